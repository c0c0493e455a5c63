"""The `xephang` command: one entry point with a sub-command per role."""

__version__ = "0.1.0"
