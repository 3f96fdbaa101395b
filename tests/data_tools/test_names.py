"""File names shown on a terminal or in a log: controls escaped, everything a name may hold otherwise kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from data_tools.images import write_image
from data_tools.names import printable, shown
from denoise_gan.inference.files import denoise_files
from denoise_gan.inference.infer_config import InferConfig
from denoise_gan.inference.tiling import TiledDenoiser
from helpers import noise_image


def test_controls_are_escaped_and_the_rest_kept() -> None:
    assert shown("esc\x1b[31m.png") == "esc\\x1b[31m.png"
    assert shown("new\nline\u2028\u2029.png") == "new\\nline\\u2028\\u2029.png"  # a log line stays one line
    assert shown("\u202egnp.exe") == "\\u202egnp.exe"  # a right-to-left override would reorder the line
    assert shown("café 日本 👩\u200d💻 [b].png") == "café 日本 👩\u200d💻 [b].png"  # a joiner is no control
    assert shown(printable("x\udcff.png")) == shown("x\udcff.png") == "x\\xff.png"
    assert shown("a\u200bb\ufeff\u00ad.png") == "a\\u200bb\\ufeff\\u00ad.png"  # invisible: passed for "ab.png"
    assert shown("tag\U000e0041.png") == "tag\\U000e0041.png"  # tag letters smuggle invisible text
    flag = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"  # Scotland's flag: kept
    assert shown(f"{flag}.png") == f"{flag}.png"
    assert shown(f"ab{flag}c{flag}d.png") == f"ab{flag}c{flag}d.png"  # the text around flags kept whole
    smuggled = "\U0001f3f4\U000e0072\U000e006d\U000e0020\U000e002d\U000e0072\U000e0066.png"  # "rm -rf" hidden
    assert shown(smuggled) != smuggled and "\\U000e0072" in shown(smuggled)
    assert shown("\u0646\u06cc\u0645\u200c\u0641\u0627\u0635\u0644\u0647.png") == \
        "\u0646\u06cc\u0645\u200c\u0641\u0627\u0635\u0644\u0647.png"  # ZWNJ: a Persian word is written with it


def test_a_name_that_reads_as_markup_is_drawn_as_it_is_in_the_progress_bars(tmp_path: Path) -> None:
    """The bars' name column took rich markup: "x [bold].png" was drawn as a bold "x .png"."""
    from denoise_gan.cli.render import progress_bar
    from denoise_gan.nets.registry import build_generator
    from helpers import TINY_G

    def terminal() -> tuple[Console, io.StringIO]:
        out = io.StringIO()
        return Console(file=out, force_terminal=True, width=120, color_system=None), out

    console, out = terminal()
    with progress_bar(console) as bar:
        bar.add_task("synth", total=2, name="x [bold].png")
    assert "x [bold].png" in out.getvalue()
    write_image(tmp_path / "in" / "x [bold].png", noise_image(16, 16))
    console, out = terminal()
    engine = TiledDenoiser(build_generator(TINY_G).eval(), InferConfig(device="cpu"))
    summary = denoise_files([tmp_path / "in"], tmp_path / "out", engine, console=console)
    assert [r.status for r in summary.results] == ["done"] and "x [bold].png" in out.getvalue()


def test_the_librarys_warning_line_escapes_a_name_into_one_line(capsys: pytest.CaptureFixture) -> None:
    """What `train` prints of photos left out or skipped: a name holding an escape sequence or a newline would
    recolour the terminal or split the line."""
    from data_tools.names import warn

    warn("1 photo left out: x\x1b[31m\nred.png (40x40)")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\\x1b[31m" in err and err.startswith("warning: ")


def test_a_name_the_file_systems_encoding_cannot_hold_is_still_printable() -> None:
    """os.fsencode raised (a lone surrogate from JSON here; any accented name where Python runs on an ASCII
    locale), so a message about the name became a traceback."""
    assert printable("x\ud800y") == "x\\xed\\xa0\\x80y" and printable("a\udcffb") == "a\\xffb"
