"""A BMP with alpha keeps it whichever OpenCV is installed: before 4.13 OpenCV's 40-byte header lost it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_tools.images import read_image, write_image


def test_a_bmp_with_alpha_is_written_without_opencvs_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    encode = cv2.imencode

    def no_bmp(ext: str, *args: object, **kwargs: object) -> object:
        assert ext != ".bmp", "the BMP was left to OpenCV's encoder"
        return encode(ext, *args, **kwargs)

    monkeypatch.setattr(cv2, "imencode", no_bmp)
    rgba = (np.arange(7 * 10 * 4) % 251).astype(np.uint8).reshape(7, 10, 4)  # a flip or a lost alpha shows
    path = tmp_path / "a.bmp"
    write_image(path, rgba, dpi=(300, 150))
    with Image.open(path) as img:  # another reader sees it too, with the resolution
        assert img.mode == "RGBA" and np.array_equal(np.asarray(img), rgba)
        assert [round(d) for d in img.info["dpi"]] == [300, 150]
    assert np.array_equal(read_image(path).pixels, rgba)
