"""The one error type the CLI turns into a one-line message: raised for bad input, never for bugs."""


class UserError(ValueError):
    """Something the user can fix: a bad path, option or file. The message is one line."""
