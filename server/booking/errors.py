"""The booking rules' refusal. Imports only protocol."""

from protocol.errors import Refused


class BookingRefused(Refused):
    """A booking, move, cancel, number or check-in the rules refuse: `code` is one of the
    codes in server/web/errors.py's STATUS table."""
