"""albumentations as the datasets and the noise transform import it: without the update check it makes on import
(a request to the package registry, up to 2 s, and offline or on any release but the newest a two-line warning
naming its own source file). The variable that turns the check off is set for that import alone: a process that
only denoises, a host application and the programs it starts keep their environment, and a user's own setting
of it is kept."""

from __future__ import annotations

import os

_VARIABLE = "NO_ALBUMENTATIONS_UPDATE"
_given = os.environ.get(_VARIABLE)
os.environ.setdefault(_VARIABLE, "1")
try:
    import albumentations as A  # noqa: E402
finally:
    if _given is None:
        os.environ.pop(_VARIABLE, None)

__all__ = ["A"]
