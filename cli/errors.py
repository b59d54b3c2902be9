"""The one error type the command line reports without a traceback."""


class CliError(Exception):
    """A user-facing error; the message should name the fix."""
