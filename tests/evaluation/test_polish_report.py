"""The benchmark report is one file: every image is embedded, so the page still shows them when moved away
from crops/ and plots/; its PSNR-vs-noise plot draws lines only along one noise model's parameter."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from denoise_gan.evaluation import report, report_crops, report_plots

PNG = b"\x89PNG\r\n\x1a\n"
NOISES = ["gaussian:sigma=15", "poisson:peak=30", "gaussian:sigma=50", "gaussian:sigma=25", "poisson:peak=10",
          "gaussian:sigma=5-50 | poisson:peak=30"]
METHODS = ["noisy", "bm3d", "model"]


def summary_for(noises: list[str], methods: list[str]) -> list[dict[str, Any]]:
    return [{"method": m, "noise": n, "psnr": 20.0 + i + j, "ssim": 0.5, "seconds": 0.1 * (j + 1),
             "mp_per_s": None if m == "noisy" else 1.0 + j, "images": 1}
            for i, n in enumerate(noises) for j, m in enumerate(methods)]


def results(noises: list[str]) -> dict[str, Any]:
    """A results.json as the benchmark writes it, for one image and the methods above."""
    rows = [{"image": "a.png", "noise": n, "method": m, "psnr": 20.0 + j, "ssim": 0.5}
            for n in noises for j, m in enumerate(METHODS)]
    return {
        "version": "test", "protocol": {"name": "denoise-gan-eval/1"}, "models": [], "failures": [],
        "config": {"noises": noises, "methods": METHODS, "oracle_sigma": False, "clean_dir": "clean",
                   "noisy_sets": [], "seed": 0},
        "inputs": [{"image": "a.png", "noise": n} for n in noises], "rows": rows,
        "summary": summary_for(noises, METHODS),
        "methods": [{"name": m, "rule": "r", "uses_sigma": m == "bm3d"} for m in METHODS],
    }


def test_report_embeds_every_image_and_works_when_moved(tmp_path: Path) -> None:
    noises = ["gaussian:sigma=15", "gaussian:sigma=25"]
    out = tmp_path / "bench"
    pixels = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    window = report_crops.crop_window(pixels)
    for noise in noises:
        for method in [*METHODS, "clean"]:
            report_crops.save_crop(out, noise, "a.png", method, pixels, window)
    page = report.write_report(out, results(noises))
    assert (out / "plots" / "psnr_vs_noise.png").is_file()  # the files are still written beside the page
    moved = tmp_path / "elsewhere" / "report.html"
    moved.parent.mkdir()
    shutil.move(page, moved)
    shutil.rmtree(out)
    text = moved.read_text()
    sources = re.findall(r"src='([^']+)'", text)
    assert len(sources) == 2 + len(noises) * (len(METHODS) + 1)  # two plots, each method's crop and the clean one
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert "crop missing" not in text
    assert not re.search(r"(href|src)=(['\"](?!data:)|[^'\"])", text)  # nothing linked: no file, no network


@pytest.fixture()
def figure(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The matplotlib figure plot_psnr_vs_noise draws, instead of its PNG."""
    drawn: list[Any] = []
    monkeypatch.setattr(report_plots, "figure_png", lambda fig, **options: drawn.append(fig) or PNG)
    return drawn


def test_lines_join_one_noise_model_along_its_parameter_only(figure: list[Any]) -> None:
    assert report.plot_psnr_vs_noise(summary_for(NOISES, METHODS), NOISES, METHODS) == PNG
    ax = figure[0].axes[0]
    at = {round(float(x)): t.get_text() for x, t in zip(ax.get_xticks(), ax.get_xticklabels())}
    assert sorted(t.replace("\n", " ").replace("  ", " ") for t in at.values()) == sorted(NOISES)  # whole, never cut

    for long in ("gaussian:sigma=15+jpeg:quality=80", "gaussian:sigma=15+jpeg:quality=95"):  # cut, both read alike
        assert report_plots._tick_label(long) == long.replace("+", "+\n")
    for spec in ("poisson-gaussian:peak=100,sigma=5", "gaussian:sigma=10+correlated:sigma=5,scale=1+jpeg:quality=90"):
        assert report_plots._tick_label(spec).replace("\n", "") == spec  # whole: no number cut, nothing elided
    folder = report_plots._tick_label("pairs:" + "camera_pairs_" * 20)  # nothing to break at: drawn on one line,
    assert len(folder.split("\n")) <= 4 and max(map(len, folder.split("\n"))) <= 24  # it squeezed the plot

    def family(x: float) -> str:
        label = at[round(float(x))]
        return label if "|" in label else label.split(":")[0]  # a mixture is its own family

    joined: dict[str, list[list[str]]] = {}
    for line in ax.get_lines():
        xs = list(line.get_xdata())
        if line.get_linestyle() in ("None", "none", "", " ") or len(xs) < 2:
            continue
        assert len({family(x) for x in xs}) == 1, [at[round(float(x))] for x in xs]  # never across models
        joined.setdefault(family(xs[0]), []).append([at[round(float(x))] for x in xs])
    # each model's conditions are still joined, in the order of their parameter
    assert ["gaussian:sigma=15", "gaussian:sigma=25", "gaussian:sigma=50"] in joined["gaussian"]
    assert ["poisson:peak=10", "poisson:peak=30"] in joined["poisson"]
    assert len(joined) == 2  # the mixture stands alone: markers only
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == METHODS  # one entry per method, however many pieces its line has


def test_one_gaussian_sweep_keeps_a_numeric_sigma_axis(figure: list[Any]) -> None:
    noises = ["gaussian:sigma=50", "gaussian:sigma=15", "gaussian:sigma=25"]
    report.plot_psnr_vs_noise(summary_for(noises, METHODS), noises, METHODS)
    ax = figure[0].axes[0]
    assert ax.get_xlabel() == "Gaussian σ (0-255 scale)"
    assert all(list(line.get_xdata()) == [15.0, 25.0, 50.0] for line in ax.get_lines())


def test_a_condition_with_an_output_equal_to_its_clean_image_keeps_its_points(figure: list[Any]) -> None:
    """One identical pair makes the strict mean infinite (null in results.json): both plots still draw the
    condition, at the mean over the other pairs, as the tables show it."""
    noises = ["gaussian:sigma=0", "gaussian:sigma=15", "gaussian:sigma=25"]
    summary = summary_for(noises, METHODS)
    for s in summary:
        if s["noise"] == "gaussian:sigma=0" and s["method"] == "model":
            s.update(psnr=None, psnr_finite=42.5, identical_pairs=1)
    report.plot_psnr_vs_noise(summary, noises, METHODS)
    model_line = [line for line in figure[0].axes[0].get_lines() if line.get_label() == "model"][0]
    assert list(model_line.get_xdata()) == [0.0, 15.0, 25.0]
    assert model_line.get_ydata()[0] == 42.5
    # a mean over fewer photos than its neighbours' is drawn hollow, and the legend says what hollow means
    hollow = [line for line in figure[0].axes[0].get_lines() if line.get_markerfacecolor() == "white"]
    assert [(list(h.get_xdata()), list(h.get_ydata())) for h in hollow if h.get_xdata().size] == [([0.0], [42.5])]
    assert "hollow: mean over the photos not returned exactly" in [
        t.get_text() for t in figure[0].axes[0].get_legend().get_texts()]
    offsets = [c.get_offsets() for c in report_plots.psnr_vs_time_figure(summary, noises, METHODS).axes[0].collections]
    assert any(len(o) and float(o[0][1]) == 42.5 for o in offsets)


def test_families_group_a_sweep_and_leave_the_rest_alone() -> None:
    families = report_plots.noise_families(["gaussian:sigma=15+jpeg:quality=80", "gaussian:sigma=25+jpeg:quality=80",
                                      "gaussian:sigma=25+jpeg:quality=60", "poisson:peak=30",
                                      "gaussian:sigma=5-50"])
    assert [(f.axis, f.labels) for f in families] == [
        ("Gaussian σ (0-255 scale)", ["gaussian:sigma=15+jpeg:quality=80", "gaussian:sigma=25+jpeg:quality=80"]),
        ("", ["gaussian:sigma=25+jpeg:quality=60"]), ("", ["poisson:peak=30"]), ("", ["gaussian:sigma=5-50"])]


def test_names_are_drawn_as_text_not_mathtext_or_hidden_labels() -> None:
    """A checkpoint named $\\bad$ crashed the plot step (no report.html); _hidden had no legend entry."""
    methods = ["noisy", "$\\bad$", "_hidden", "run$1_v$2"]
    noises = ["gaussian:sigma=15", "gaussian:sigma=25"]
    summary = summary_for(noises, methods)
    assert report.plot_psnr_vs_noise(summary, noises, methods).startswith(PNG)
    fig = report_plots.psnr_vs_time_figure(summary, noises, methods)
    fig.canvas.draw()
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(legend) == 3 + len(noises) and any(t.endswith("_hidden") for t in legend)


def test_each_timed_point_sits_at_its_seconds_per_megapixel_in_its_noises_marker() -> None:
    """x is 1 / (megapixels per second): the faster method lies left; each noise condition has its own marker,
    the one its legend entry shows."""
    noises = ["gaussian:sigma=15", "gaussian:sigma=25"]
    summary = summary_for(noises, METHODS)  # bm3d at 1 MP/s, the model at 2
    fig = report_plots.psnr_vs_time_figure(summary, noises, METHODS)
    ax = fig.axes[0]
    points = [c for c in ax.collections if len(c.get_offsets())]
    timed = [s for s in summary if s["method"] != "noisy"]
    assert len(points) == len(timed)
    for collection, s in zip(points, timed):
        x, y = collection.get_offsets()[0]
        assert (x, y) == (pytest.approx(1.0 / s["mp_per_s"]), pytest.approx(s["psnr"]))
    legend = {text.get_text(): handle for text, handle in zip(ax.get_legend().get_texts(),
                                                              ax.get_legend().legend_handles)}
    for collection, s in zip(points, timed):
        assert np.array_equal(collection.get_paths()[0].vertices, legend[s["noise"]].get_paths()[0].vertices)
    first, last = (legend[n].get_paths()[0].vertices for n in noises)
    assert first.shape != last.shape or not np.allclose(first, last)  # two noises, two shapes


def test_the_plots_tell_the_methods_apart_by_more_than_colour(figure: list[Any]) -> None:
    """tab10's green and red (and orange and green) read alike to a reader with red-green colour blindness, and
    every method was a circle on a solid line: each method has its own marker, and in the time plot, where the
    marker is the noise's, each point is named."""
    methods = ["noisy", "bm3d", "nlm", "tv", "model"]
    noises = ["gaussian:sigma=15", "gaussian:sigma=25"]
    summary = summary_for(noises, methods)
    report.plot_psnr_vs_noise(summary, noises, methods)
    marker = {line.get_label(): line.get_marker() for line in figure[0].axes[0].get_lines()}
    assert len({marker[m] for m in methods}) == len(methods), marker
    ax = report_plots.psnr_vs_time_figure(summary, noises, methods).axes[0]
    named = sorted((t.get_text(), tuple(np.round(t.xy, 6))) for t in ax.texts)
    assert named == sorted((s["method"], (round(1.0 / s["mp_per_s"], 6), round(s["psnr"], 6)))
                           for s in summary if s["method"] != "noisy")


def test_pictures_draw_every_image_kind_as_8_bit_rgb() -> None:
    """Demo strips, validation grids and adapt's before/after: 16-bit highlights stay white (not wrapped to
    black), an RGBA image is drawn from its colours, a gray one (with or without alpha) as gray."""
    from denoise_gan.evaluation.pictures import as_label, rgb8

    ramp = np.arange(256, dtype=np.uint16)[None, :, None] * np.uint16(257)
    assert np.array_equal(rgb8(np.repeat(ramp, 3, axis=2)), np.repeat(np.arange(256, dtype=np.uint8)[None, :, None],
                                                                      3, axis=2))
    rgba = np.random.default_rng(0).integers(0, 256, (4, 5, 4), dtype=np.uint8)
    assert np.array_equal(rgb8(rgba), rgba[..., :3])
    gray_alpha = rgba[..., :2]
    assert np.array_equal(rgb8(gray_alpha), np.repeat(rgba[..., :1], 3, axis=2))
    assert np.array_equal(rgb8(rgba[..., 0]), np.repeat(rgba[..., :1], 3, axis=2))
    assert as_label("_hidden") == "\u200b_hidden" and as_label("a$b") == "a\\$b"


def test_names_are_escaped_everywhere_and_unequal_image_counts_are_said(tmp_path: Path) -> None:
    """A photo's name is text on the page, never markup (a name like `a<b>.png` broke the page, and the report
    promises no script); and means over different numbers of images carry the warning that they are not
    comparable."""
    name = "x<script>&.png"
    data = results(["gaussian:sigma=15"])
    for entry in (*data["rows"], *data["inputs"]):
        entry["image"] = name
    data["summary"][1]["images"] = 2  # bm3d finished one more image than the others (a failure elsewhere)
    data["failures"] = [{"image": name, "noise": "gaussian:sigma=15", "method": "model", "reason": "<b>broke</b>"}]
    page = report.render_html(tmp_path, data, {})
    assert "<script>" not in page and "<b>" not in page
    assert page.count("x&lt;script&gt;&amp;.png") >= 3  # the per-image table, the crops' caption, the failure
    assert "different numbers of images" in page
    data["summary"][1]["images"] = 1
    assert "different numbers of images" not in report.render_html(tmp_path, data, {})


def test_the_report_marks_the_best_of_the_methods_and_the_fastest_that_takes_time(tmp_path: Path) -> None:
    """Highlights a reader trusts: the fastest method (the noisy input takes no time, so it is no candidate), the
    best crop (never the noisy input, even on a tie), an image returned exactly (∞) as the best; and the note on
    crops shown for only the first images appears only past the limit."""
    summary = summary_for(["n"], METHODS)  # noisy 0.1 s, bm3d 0.2 s, model 0.3 s
    assert "<td class='num best'>0.200<span class='said'> (best)</span></td>" in report._mean_table(summary, METHODS)
    rows = [{"image": "a.png", "method": "noisy", "psnr": 30.0, "ssim": 0.5},
            {"image": "a.png", "method": "bm3d", "psnr": 30.0, "ssim": 0.5},
            {"image": "a.png", "method": "model", "psnr": None, "ssim": 1.0}]
    table = report._per_image_table(rows, ["a.png"], METHODS)
    assert table.count("num best") == 1 and "<td class='num best'>∞" in table
    rows[2]["psnr"] = 29.0  # now the noisy input ties bm3d for the best
    crops = report._crops_html(tmp_path, "n", rows, ["a.png"], METHODS)
    assert crops.count("<figcaption class=best>") == 1 and "<figcaption class=best>bm3d" in crops
    clean_in = [{**r, "psnr": None, "ssim": 1.0} if r["method"] == "noisy" else r for r in rows]  # sigma=0
    table = report._per_image_table(clean_in, ["a.png"], METHODS)
    assert table.count("num best") == 1 and "<td class='num best'>30.00" in table
    crops = report._crops_html(tmp_path, "n", clean_in, ["a.png"], METHODS)
    assert "<figcaption class=best>bm3d" in crops  # no crop at all was marked
    perfect = [{**e, "psnr": None, "psnr_finite": None, "ssim": 1.0} if e["method"] == "noisy" else e
               for e in summary]
    assert "<td class='num best'>∞" not in report._mean_table(perfect, METHODS)
    many = [f"p{i}.png" for i in range(report_crops.MAX_CROP_IMAGES + 1)]
    every = [{**r, "image": image} for image in many for r in rows]
    assert "Crops shown for the first" not in report._crops_html(tmp_path, "n", every, many[:-1], METHODS)
    assert "Crops shown for the first" in report._crops_html(tmp_path, "n", every, many, METHODS)


def test_the_crop_window_may_lie_against_the_bottom_right_edge() -> None:
    """Candidate windows start every 8 px and at the far edge: texture in the last rows and columns of a photo
    whose side is off that grid is framed whole, not cut by a window that stops short of it."""
    image = np.full((203, 205, 3), 128, np.uint8)
    image[-40:, -40:] = np.indices((40, 40)).sum(axis=0)[..., None] % 2 * 255
    size = report_crops.CROP
    assert report_crops.crop_window(image) == (203 - size, 205 - size, size, size)


def test_a_caption_too_long_for_its_picture_is_cut_in_its_middle_and_keeps_its_figures() -> None:
    """A long file name ran off the grid and took the PSNR at the end of its caption with it."""
    from PIL import Image, ImageDraw

    from denoise_gan.evaluation.pictures import _font, fitted

    draw, font = ImageDraw.Draw(Image.new("RGB", (10, 10))), _font(12)
    caption = "a_folder_with_a_very_long_name_from_a_camera_session/IMG_0001.png: PSNR 20.11 -> 30.52 dB"
    short = fitted(draw, caption, font, 300)
    assert draw.textlength(short, font=font) <= 300 and "…" in short
    assert short.endswith("30.52 dB") and short.startswith("a_folder")
    assert fitted(draw, "PSNR 30.52 dB", font, 300) == "PSNR 30.52 dB"  # one that fits is left whole
    from PIL import ImageFont

    bitmap = ImageFont.load_default_imagefont()  # Pillow < 10.1's only default: no "…" in it
    assert fitted(draw, caption, bitmap, 200).endswith("30.52 dB") and "..." in fitted(draw, caption, bitmap, 200)
    assert fitted(draw, "фото.png: PSNR 30.52 dB", bitmap, 300) == "????.png: PSNR 30.52 dB"  # drawable, not raised


def test_a_name_with_accents_is_drawn_and_one_the_font_lacks_is_a_question_mark() -> None:
    """Pillow's own font drew "café" as "caf□" in every grid caption; a letter no font here holds (Japanese) was
    an empty box too."""
    from PIL import Image, ImageDraw, ImageFont

    from denoise_gan.evaluation.pictures import _font, fitted

    draw, font = ImageDraw.Draw(Image.new("RGB", (10, 10))), _font(12)
    assert isinstance(font, ImageFont.FreeTypeFont)  # matplotlib, a dependency, ships its font
    box = font.getmask("\U0010fffd")
    for letter in "éü€Я":
        assert bytes(font.getmask(letter)) != bytes(box), letter
    assert fitted(draw, "café 日本.png: 30.52 dB", font, 400) == "café ??.png: 30.52 dB"


def test_the_report_names_where_the_noise_came_from() -> None:
    """A folder of the user's own pairs was described as "synth sets (their manifests' seeds)": it has none."""
    seed_text = report._seed_text
    assert seed_text({"seed": 0, "noisy_sets": [], "noises": ["gaussian:sigma=25"]}) == "seed 0"
    assert seed_text({"seed": None, "noisy_sets": ["/s"], "noises": ["gaussian:sigma=25"]}) == \
        "noisy files read from synth sets (their manifests' seeds)"
    assert seed_text({"seed": None, "noisy_sets": ["/p"], "noises": ["pairs:/p"]}) == \
        "noisy files read from your own pairs (their noise as shot)"


def test_a_column_of_small_images_keeps_its_whole_name() -> None:
    """Under about 60 px a cell cut its column's name to "G…isy)": a cell is as wide as its name at least."""
    from PIL import Image, ImageDraw

    from denoise_gan.evaluation.pictures import _font, labelled_grid

    black, red = np.zeros((24, 24, 3), np.uint8), np.zeros((24, 24, 3), np.uint8)
    red[..., 0] = 255
    grid = labelled_grid([[black, red]], ["G(noisy)", "F(clean)"], ["a"], "t")
    name = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength("G(noisy)", font=_font(12))
    second = np.argwhere((grid[..., 0] == 255) & (grid[..., 1] == 0))[:, 1].min()  # where the second cell begins
    assert second >= name


def _contrast(fg: str, bg: str) -> float:
    """WCAG's contrast ratio of two CSS colours, #rgb or #rrggbb."""
    def luminance(colour: str) -> float:
        digits = colour[1:] if len(colour) == 7 else "".join(d * 2 for d in colour[1:])
        c = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_report_says_best_in_words_and_names_its_headers_for_a_screen_reader(tmp_path: Path) -> None:
    """Bold on green was all that marked the best, which a screen reader does not read: each best cell and crop
    caption says "(best)" ("(best PSNR)" for an image's) in text kept off the screen, and every header cell
    names what it heads."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.cells: list[tuple[str, str]] = []  # (class, text) of each td and figcaption
            self.open: list[str] | None = None
            self.unscoped = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.unscoped += tag == "th" and "scope" not in dict(attrs)
            if tag in ("td", "figcaption"):
                self.open = [dict(attrs).get("class") or "", ""]

        def handle_data(self, data: str) -> None:
            if self.open is not None:
                self.open[1] += data

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "figcaption") and self.open is not None:
                self.cells.append((self.open[0], self.open[1]))
                self.open = None

    parser = Cells()
    parser.feed(report.render_html(tmp_path, results(["gaussian:sigma=15", "gaussian:sigma=25"]), {}))
    best = [text for cls, text in parser.cells if "best" in cls]
    assert best and all(re.search(r"\S \(best( PSNR)?\)$", text) for text in best), best
    assert {text.endswith("(best PSNR)") for text in best} == {True, False}  # an image's on PSNR, a mean's each
    assert not any("(best)" in text for cls, text in parser.cells if "best" not in cls)
    assert parser.unscoped == 0
    # the marks are a row's best too (an image's), and never the noisy input's: not "the best of a column"
    meta = re.search(r"Bold on green[^<]*", report.render_html(tmp_path, results(["gaussian:sigma=15"]), {}))
    assert meta and "column" not in meta.group(0) and "methods" in meta.group(0), meta


def test_the_report_keeps_its_text_legible_and_its_plots_within_a_zoomed_window() -> None:
    """A crop's "crop missing" was #999 on white (2.8:1, under WCAG's 4.5:1), and a plot kept 700 px at 400 %
    zoom, where a window is 320 px wide, so the page scrolled sideways."""
    missing = re.search(r"\.missing \{[^}]*?[^-]color: (#[0-9a-f]{3,6});", report.STYLE)
    assert missing and _contrast(missing.group(1), "#ffffff") >= 4.5
    plots = re.search(r"\.plots img \{[^}]*max-width: ([^;]+);", report.STYLE)
    assert plots and "100%" in plots.group(1)


def test_each_report_page_is_titled_by_its_folder(tmp_path: Path) -> None:
    """Every benchmark page was titled "denoise-gan benchmark": two open side by side, or in a browser's
    history, could not be told apart."""
    titles = set()
    for name in ("blind", "oracle"):
        (tmp_path / name).mkdir()
        page = report.render_html(tmp_path / name / ".", results(["gaussian:sigma=15"]), {})
        titles.add(re.search(r"<title>([^<]*)</title>", page).group(1))  # type: ignore[union-attr]
    assert titles == {"benchmark: blind", "benchmark: oracle"}
