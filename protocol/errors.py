"""The error the command line turns into one clear line (no traceback)."""


class XephangError(Exception):
    """An expected failure with a message meant for the person at the terminal."""


class Refused(Exception):
    """A domain rule said no: a stable `code` (e.g. "counter_paused") and a `detail` for
    people. Raised by rules below the web layer (desk, storage jobs); the web layer maps
    codes to HTTP statuses in one table (server/web/errors.py), the keypad path logs them."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
