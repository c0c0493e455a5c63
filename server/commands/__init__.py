"""The server's sub-commands of the `xephang` command line (server, users, tokens,
backup): parse, call the library, report. Heavy imports inside the command functions."""
