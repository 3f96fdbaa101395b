"""The project's error types: raised for something the user can fix, never for bugs.

Every one derives from ``DenoiseGanError`` (defined in ``data_tools.errors``, the bottom of the import graph,
so ``data_tools``'s ``DataError`` shares it), so the CLI turns each into one red line (exit code 2, or 1 where
the work failed though the arguments were fine: ``atomic_files``' full disk, output in the way, folder held),
and Python callers can catch them in one clause. ``ReportedInterrupt`` is no error but a KeyboardInterrupt.
"""

from data_tools.errors import CPU_OUT_OF_MEMORY, DataError, DenoiseGanError

__all__ = ["ConfigError", "DataError", "DenoiseGanError", "ReportedInterrupt", "UserError", "WeightsError"]


class UserError(DenoiseGanError):
    """Something the user can fix: a bad path, option or file. The message is one line."""


class ConfigError(DenoiseGanError):
    """A config value out of its range (an option on the command line, or a field of a stored config);
    the message is one line naming the option."""


class WeightsError(DenoiseGanError):
    """A weight or checkpoint file that cannot be used; the message is one line and names the file."""


class UnsafeCheckpointError(WeightsError):
    """A checkpoint holding objects that are not plain weights: never loaded, and never skipped past."""


class ReportedInterrupt(KeyboardInterrupt):  # noqa: N818 (a KeyboardInterrupt, not an error)
    """Ctrl-C (or SIGTERM, SIGHUP) whose outcome the command has already told the user (the step saved, how to resume):
    the CLI exits 130 without a second "interrupted" line."""


def is_out_of_memory(exc: BaseException, cuda: bool = False) -> bool:
    """Whether ``exc`` says memory ran out, a MemoryError or a runtime's RuntimeError in CPU_OUT_OF_MEMORY's words
    (a process under a `ulimit -v`, or a whole-image tile on a big photo, then gets a smaller tile, and a command
    one line, not a 400-character reason); with ``cuda``, the GPU's too (the engines handle CUDA's own error type
    apart, and a Python caller still catches it as ``torch.cuda.OutOfMemoryError``)."""
    return (isinstance(exc, MemoryError) or any(text in str(exc) for text in CPU_OUT_OF_MEMORY)
            or cuda and "CUDA out of memory" in str(exc))


def out_of_memory_text(exc: BaseException) -> str:
    """What a user reads when memory ran out, a whole run's error or one file's reason: the allocation that
    failed where the error names it (a bare MemoryError names none), and what to do."""
    said = str(exc).strip()
    return f"out of memory{f' ({first_line(exc)})' if said else ''}; free memory or give smaller images"


def first_line(exc: BaseException, limit: int | None = 160) -> str:
    """An exception's message as one line of at most ``limit`` characters, for a one-line error, a cut one ending
    in "…" (torch's zip error stopped at "there is a high" as if that were all); its type's name when it says
    nothing (an EOFError, a bare KeyError: an empty message failed as an IndexError)."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    return line if limit is None or len(line) <= limit else line[:limit - 1] + "…"


def typed_line(exc: BaseException, limit: int | None = 160) -> str:
    """``first_line`` after the exception's type (``KeyError: 'nets'``), where the message alone says too little."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {first_line(exc, limit)}" if text else type(exc).__name__
