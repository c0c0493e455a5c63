"""The stored dummy hash an unknown user name is checked against (server/web/auth.py):
it must be a valid argon2 hash with exactly the parameters of the real hasher, so that a
login for a missing user costs what a login for a real one costs."""

from __future__ import annotations

import pytest
from argon2 import extract_parameters
from argon2.exceptions import VerifyMismatchError

from server.web import auth


def test_dummy_hash_has_the_hasher_parameters() -> None:
    dummy = extract_parameters(auth._DUMMY_HASH)
    real = extract_parameters(auth._hasher.hash("any password at all"))
    assert dummy == real


def test_dummy_hash_rejects_any_password() -> None:
    with pytest.raises(VerifyMismatchError):
        auth._hasher.verify(auth._DUMMY_HASH, "not-a-real-password-only-for-timing-but-wrong")
