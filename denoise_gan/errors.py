"""The project's error types: raised for something the user can fix, never for bugs.

Every one derives from ``DenoiseGanError`` (defined in ``data_tools.errors``, the bottom of the import graph,
so ``data_tools``'s ``DataError`` and ``config``'s ``ConfigError`` share it), so the CLI turns all of them
into one red line and exit code 2, and Python callers can catch them in one clause.
"""

from data_tools.errors import DataError, DenoiseGanError

__all__ = ["DataError", "DenoiseGanError", "UserError", "WeightsError"]


class UserError(DenoiseGanError):
    """Something the user can fix: a bad path, option or file. The message is one line."""


class WeightsError(DenoiseGanError):
    """A weight or checkpoint file that cannot be used; the message is one line and names the file."""
