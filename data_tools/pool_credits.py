"""The training pool's credits as Markdown, from the sources.json a pool's build writes.

The shipped weights carry the project's licence, yet were trained on photos under their authors' licences
(attribution, share-alike, copyleft): the model card ships this list (checkpoints/TRAINING_DATA.md) so a user can
see what trained them and credit it, without rebuilding the pool. Made by

    denoise-gan samples --set pool -o pool
    python -m data_tools.pool_credits pool/sources.json > checkpoints/TRAINING_DATA.md
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from data_tools import json_text

COLUMNS = ("image", "source", "path in it", "author", "licence", "sha256 of the pool's PNG")

INTRO = """# Training data of the shipped weights

The shipped weights (`default`, `default-F` and the discriminators) were trained on these {count} clean images:
{photos} photos from Debian's wallpaper packages, area-downscaled 2-4x so their JPEG blocks and sensor noise average
away, and {samples} images of `skimage.data`. `denoise-gan samples --set pool -o pool` builds them; each sha256 below
is of the PNG it writes from the package version named. The held-out photos (`denoise-gan samples`) and the
sample photos other packages ship (scikit-learn, matplotlib, PyWavelets) are not among them. imageio's standard
images, which it downloads on request, include `skimage.data`'s: six of them (clock, coins, hubble_deep_field,
immunohistochemistry, page, text) are training images here, five (astronaut, camera, chelsea, coffee, moon) the
held-out ones.

Each image's licence is its author's, as its package states it: {licences}. The project releases the weights
under its own licence (MIT) as far as it can. Whether trained weights are a work derived from their training
images is an open legal question this list does not answer; it credits every author, so that a user who must
meet attribution or share-alike terms can.

Made by `python -m data_tools.pool_credits pool/sources.json` from a pool built with the package versions named.
"""


def credits_markdown(entries: list[dict]) -> str:
    """The card's page: an introduction with the licences counted, then one row per image."""
    photos = sum(1 for e in entries if e["package"] != "scikit-image")
    counted = Counter(e["licence"] for e in entries)
    licences = "; ".join(f"{licence} ({n})" for licence, n in counted.most_common())
    lines = [INTRO.format(count=len(entries), photos=photos, samples=len(entries) - photos, licences=licences),
             "| " + " | ".join(COLUMNS) + " |", "| --- " * len(COLUMNS) + "|"]
    for e in sorted(entries, key=lambda e: (e["package"] == "scikit-image", e["package"], e["name"])):
        source = f"{e['package']} {e.get('package_version', '')}".strip()
        cells = (e["name"], source, f"`{e['path']}`", e["author"], e["licence"], f"`{e['sha256']}`")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m data_tools.pool_credits POOL/sources.json", file=sys.stderr)
        return 2
    try:
        entries = json_text.loads(Path(argv[0]).read_text())["images"]
        sys.stdout.write(credits_markdown(entries))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: {argv[0]}: not a pool's sources.json ({exc})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
