"""The one error type the command line reports without a traceback."""


class CliError(Exception):
    """A user-facing error; the message should name the fix. `code` is for scripts (`--json`
    prints it): the daemon's API error code, or one of the command line's own."""

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code
