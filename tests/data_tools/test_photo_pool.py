"""The photo pool's folder after an interrupted build: every photo written so far is listed in sources.json
with its sha256, so `samples --set photos` run again into that folder is allowed (it refused the folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_tools import photos
from data_tools.images import encode_image


def test_an_interrupted_build_leaves_a_folder_it_may_build_again(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    packages = {p.package for p in photos.PHOTOS}
    monkeypatch.setattr(photos, "find_debs", lambda folder: {p: folder / f"{p}_1_all.deb" for p in packages})
    rng = np.random.default_rng(0)
    picture = encode_image(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), ".png")
    monkeypatch.setattr(photos, "read_deb_members", lambda deb, wanted: {path: picture for path in wanted})

    def stop_after_three(done: int, total: int, name: str) -> None:
        if done == 3:
            raise KeyboardInterrupt

    out = tmp_path / "pool"
    with pytest.raises(KeyboardInterrupt):
        photos.build_photo_pool(out, tmp_path, stop_after_three)
    assert len(list(out.glob("*.png"))) == 3
    assert photos.holds_only_an_earlier_pool(out)
    written = photos.build_photo_pool(out, tmp_path)  # run again into it: finished
    assert len(written) == len(photos.PHOTOS) and photos.holds_only_an_earlier_pool(out)
    (out / written[0].name).write_bytes(b"a user's own file of that name")
    assert not photos.holds_only_an_earlier_pool(out)
