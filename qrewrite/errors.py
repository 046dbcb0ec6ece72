"""The errors a user can cause; str(error) is the one-line message shown to them (qrewrite.cli.fail prints it)."""


class DataError(ValueError):
    """Bad input data: a file, a record or a flag's value; the message names it and the fix."""


class OutputError(DataError):
    """An output path the script may not write; the message names the path and the fix."""


class ModelError(RuntimeError):
    """A model that cannot be found or read; the message names it and the fix."""
