"""Atomic writes: temp file and rename, with the usual permissions.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from data_tools.images import write_image

torch.set_num_threads(1)  # the suite shares two cores with a training job


def test_atomic_writes_get_the_usual_file_permissions(tmp_path: Path) -> None:
    """Temp-file-and-rename must not leave outputs readable only by their owner (mkstemp makes 0600 files)."""
    target = tmp_path / "out.png"
    write_image(target, np.zeros((4, 4, 3), np.uint8))
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
