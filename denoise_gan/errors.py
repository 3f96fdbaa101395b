"""The project's error types: raised for something the user can fix, never for bugs.

Every one derives from ``DenoiseGanError``, so the CLI turns all of them (and ``data_tools``'s own
``DataError``) into one red line and exit code 2, and Python callers can catch them in one clause.
"""


class DenoiseGanError(ValueError):
    """Base of every user-facing error of the package; the message is one line."""


class UserError(DenoiseGanError):
    """Something the user can fix: a bad path, option or file. The message is one line."""


class WeightsError(DenoiseGanError):
    """A weight or checkpoint file that cannot be used; the message is one line and names the file."""
