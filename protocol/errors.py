"""The error the command line turns into one clear line (no traceback)."""


class XephangError(Exception):
    """An expected failure with a message meant for the person at the terminal."""
