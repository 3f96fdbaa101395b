"""Pixels a reader doubts (a JPEG libjpeg calls corrupt, 12-bit values stored in a 16-bit file) are said by every
command that uses them: `denoise` said the 12-bit case alone, while `evaluate` scored such files 24 dB too high
and `synth` drew noise 16 times too strong on them, without a word."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from data_tools.images import write_image
from helpers import cli

TWELVE_BIT = "16-bit samples all at most 4095 of 65535"
CORRUPT = "libjpeg reports corrupt data ("


def twelve_bit(seed: int) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 4096, (32, 32, 3), dtype=np.uint16)
    pixels[0, 0, 0] = 4095
    return pixels


def damaged_jpeg(path: Path) -> None:
    """A JPEG with 40 damaged bytes in its compressed data: libjpeg decodes it into garbled blocks and complains."""
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[:200, :200]).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    for at in range(len(data) // 2, len(data) // 2 + 40):
        data[at] ^= 0x55
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_evaluate_says_each_doubtful_file_and_lists_them_in_its_json(tmp_path: Path) -> None:
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    write_image(clean / "raw.png", twelve_bit(0))
    write_image(pred / "raw.png", twelve_bit(1))
    write_image(clean / "photo.png", skimage.data.astronaut()[:200, :200])
    damaged_jpeg(pred / "photo.jpg")
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    said = warnings_of(result.stderr)
    assert len(said) == 3, result.stderr
    assert sum(TWELVE_BIT in line for line in said) == 2 and f"{pred / 'raw.png'}: {TWELVE_BIT}" in " ".join(said)
    assert any(line.startswith(f"warning: {pred / 'photo.jpg'}: {CORRUPT}") for line in said)
    listed = json.loads((tmp_path / "r.json").read_text())["cautions"]
    assert {item["file"] for item in listed} == {str(clean / "raw.png"), str(pred / "raw.png"), str(pred / "photo.jpg")}


def test_evaluate_of_many_doubtful_files_names_a_few_and_counts_the_rest(tmp_path: Path) -> None:
    clean, pred = tmp_path / "clean", tmp_path / "pred"
    for i in range(4):
        write_image(clean / f"{i}.png", twelve_bit(i))
        write_image(pred / f"{i}.png", twelve_bit(i + 10))
    result = cli("evaluate", "--clean", clean, "--pred", pred, "--json", tmp_path / "r.json")
    said = warnings_of(result.stderr)
    assert len(said) == 6
    assert said[-1] == f"warning: and 3 more file(s) with such a caution (all in {tmp_path / 'r.json'}, under cautions)"


def test_synth_says_a_doubtful_source_and_records_it_in_the_manifest(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    write_image(source / "raw.png", twelve_bit(0))
    write_image(source / "fine.png", skimage.data.astronaut()[:64, :64])
    result = cli("synth", source, "-o", tmp_path / "set", "--noise", "gaussian:sigma=10")
    assert result.exit_code == 0, result.output
    said = warnings_of(result.stderr)
    assert len(said) == 1 and said[0].startswith(f"warning: {source / 'raw.png'}: {TWELVE_BIT}"), result.stderr
    entries = {e["name"]: e for e in json.loads((tmp_path / "set" / "manifest.json").read_text())["images"]}
    assert TWELVE_BIT in entries["raw"]["caution"] and "caution" not in entries["fine"]


def test_denoise_says_a_damaged_jpeg_on_its_line(tmp_path: Path) -> None:
    damaged_jpeg(tmp_path / "photo.jpg")
    result = cli("denoise", tmp_path / "photo.jpg", "-o", tmp_path / "out.png", "--strength", "0")
    assert result.exit_code == 0, result.output
    assert CORRUPT in result.output and "may be garbled" in result.output
