"""The desk rules' refusal. Imports only protocol."""

from protocol.errors import Refused


class DeskRefused(Refused):
    """A desk action the rules refuse: `code` is one of the codes in
    server/web/errors.py's STATUS table (the API's documented error codes)."""
