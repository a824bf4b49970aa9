"""The one exception type that turns bad user input into a single clear line."""


class TapInputError(ValueError):
    """Bad user input: a file, row or field that TAP cannot use.

    The message names the file, row or field; the CLI prints it as one line and exits with
    status 2, without a traceback.
    """
