"""The noise-fit report written out: JSON, Markdown and the labelled PNG."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from data_tools import json_text
from data_tools.atomic_files import atomic_write_bytes, atomic_write_text, built_aside
from data_tools.images import to_255
from denoise_gan.evaluation.noise_fit.fit_report import NoiseFitReport
from denoise_gan.evaluation.noise_fit.statistics import (
    BANDS,
    HIST_HALF,
    WINDOW,
    band_edges,
)
from denoise_gan.evaluation.pictures import MARKERS, as_label, figure_png

# ---- outputs: JSON, Markdown, PNG ----------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>\[\]&|~#!])")


def _text(text: str) -> str:
    """A name (a folder, a --model file, a photo) as Markdown text that shows it as written: `set_<b>` made the rest
    of the page bold, `<img src=x>` an element, and a `|` (a mixture spec's) split a table's row, putting every
    figure of the row under the heading to its right."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\r", " ").replace("\n", " ")


def markdown(report: NoiseFitReport) -> str:
    """The table as Markdown, with the settings and the method in words."""
    s = report.settings
    bands = s["bands"]
    if report.mode == "paired":
        head = (f"# Noise fit: {_text(s['noisy_dir'])} against {_text(s['clean_dir'])}\n\n{s['pairs']} pairs, seed "
                f"{s['seed']}; "
                "KL(real ‖ row) per brightness band of the clean intensity (nats; lower is closer).\n\n")
        cols = ["row", "KL mean", *[f"KL {b}" for b in bands], "σ", "lag-1 corr", "R-G corr"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for r in report.rows:
            v = r.values
            lines.append("| " + " | ".join([_text(r.label), _fmt(v["kl_mean"], 4),
                                            *[_fmt(k, 4) for k in v["kl_per_band"]],
                                            _fmt(v["std"], 2), _fmt(v["lag1"]), _fmt(v["rg_corr"])]) + " |")
    else:
        head = (f"# Noise fit (blind): {_text(s['noisy_dir'])}\n\nNo clean twins: {s['crops']} random "
                f"{s['crop_size']}x{s['crop_size']} crops per row, models drawn on clean photos "
                f"({_text(str(s['clean_dir']))}), seed {s['seed']}."
                f"\n\n{_photos_line(s)}")
        cols = ["row", "blind σ p10", "median", "p90", "luma / colour σ", "coarse / fine σ", "σ per octave",
                "detail KL mean", "σ added"]
        lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
        for r in report.rows:
            v = r.values
            lines.append("| " + " | ".join([
                _text(r.label), _fmt(v["blind_sigma_p10"], 2), _fmt(v["blind_sigma_median"], 2),
                _fmt(v["blind_sigma_p90"], 2), _fmt(v["luma_vs_colour"], 2), _fmt(v["coarse_vs_fine"], 2),
                " / ".join(_fmt(x, 2) for x in v["sigma_per_octave"]), _fmt(v.get("detail_kl_mean"), 4),
                _fmt(v.get("added_std"), 2)]) + " |")
    return head + "\n".join(lines) + f"\n\nHow: {report.how}.\n\n![noise fit](noise_fit.png)\n"


def _photos_line(settings: dict[str, Any]) -> str:
    """Photos: how many of each folder were measured, and which were left out (unreadable, too small)."""
    parts = []
    for key, what in (("noisy_photos", "noisy"), ("clean_photos", "clean")):
        record = settings.get(key)
        if record is None:
            continue
        left = record["left_out"]
        parts.append(f"{record['used']} of {record['used'] + len(left)} {what}"
                     + (f" (left out: {_text('; '.join(left))})" if left else ""))
    return f"Photos: {', '.join(parts)}.\n\n" if parts else ""


def report_json(report: NoiseFitReport) -> str:
    return json_text.dumps(report.to_dict(), indent=2) + "\n"


def figure(report: NoiseFitReport) -> Any:
    """The picture: histograms per brightness band, spectra (or σ per octave), crops; every panel labelled."""
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    rows = report.rows
    colours = ["black"] + [f"C{i}" for i in range(len(rows) - 1)]
    fig = Figure(figsize=(3.4 * max(BANDS, len(rows)), 11))
    grid = fig.add_gridspec(3, 1, height_ratios=[1, 1, 1.1])
    _histogram_panels(fig, grid[0].subgridspec(1, BANDS), report, colours)
    if report.mode == "paired":
        _spectrum_panels(fig, grid[1].subgridspec(1, 2), report, colours)
    else:
        _blind_panels(fig, grid[1].subgridspec(1, 2), report, colours)
    _crop_panels(fig, grid[2].subgridspec(1, len(rows)), report)
    title = ("noise fit: residual noisy - clean, real pairs against each model drawn on the same clean images"
             if report.mode == "paired" else
             "noise fit (blind, no clean twins): the noisy folder against models drawn on clean photos")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


PICTURE_DPI = 100  # with the smallest text at 7 pt, 10 px: at 80 dpi a legend's 5 pt was 6 px, not to be read
ROW_DASHES = ("-", "--", "-.", ":")


def _row_style(index: int) -> dict[str, Any]:
    """Row ``index``'s dashes and marker: tab10's orange and green, green and red, read alike to a reader with
    red-green colour blindness, who could not tell two models' curves apart."""
    return {"linestyle": ROW_DASHES[index % len(ROW_DASHES)], "marker": MARKERS[index % len(MARKERS)]}


def _histogram_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    centres = np.arange(-HIST_HALF, HIST_HALF + 1)
    hists = [r.hist for r in report.rows]
    reference = hists[0]
    for band, name in enumerate(report.picture["bands"]):
        ax = fig.add_subplot(cells[band])
        counts = reference[band]
        spread = np.sqrt(np.dot(counts, centres**2) / max(counts.sum(), 1))
        limit = max(8.0, 4.0 * spread)
        drawn = 0
        for i, (row, hist, colour) in enumerate(zip(report.rows, hists, colours)):
            total = hist[band].sum()
            if total == 0:
                continue
            drawn += 1
            density = hist[band] / total
            kl = row.values.get("kl_per_band", row.values.get("detail_kl_per_band"))
            tag = "" if kl is None or kl[band] is None else f" (KL {kl[band]:.3f})"
            style = {"linewidth": 2.0 if i == 0 else 1.0, "linestyle": ROW_DASHES[i % len(ROW_DASHES)], "markevery": 12,
                     "markersize": 3, "marker": None if i < len(ROW_DASHES) else MARKERS[i % len(MARKERS)]}
            ax.step(centres, np.where(density > 0, density, np.nan), where="mid", color=colour,
                    label=_short(row.label) + tag, **style)
        ax.set_yscale("log")
        ax.set_xlim(-limit, limit)
        what = "residual" if report.mode == "paired" else "finest diagonal Haar detail"
        ax.set_title(f"{what}, brightness {name}\n({int(counts.sum())} samples)", fontsize=8)
        ax.set_xlabel("levels (0-255 scale)", fontsize=7)
        ax.set_ylabel("share of samples (log)", fontsize=7)
        ax.tick_params(which="both", labelsize=7)  # minor ticks too: labelled where a band spans under a decade
        if drawn:
            ax.legend(fontsize=7)
        else:  # a flat, dark or bright set leaves some brightness bands empty
            ax.text(0.5, 0.5, "no pixels at this brightness", ha="center", va="center", fontsize=7,
                    transform=ax.transAxes)


def _spectrum_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    ax = fig.add_subplot(cells[0])
    for i, (row, colour) in enumerate(zip(report.rows, colours)):
        spectrum = row.values["spectrum"]
        ax.plot(spectrum["cycles_per_pixel"], spectrum["power"], color=colour, markersize=4, **_row_style(i),
                label=f"{_short(row.label)} (lag-1 {_fmt(row.values['lag1'], 2)})")
    if not any(np.isfinite(np.asarray(r.values["spectrum"]["power"], float)).any() for r in report.rows):
        ax.text(0.5, 0.5, f"no photo holds a {WINDOW}x{WINDOW} window", ha="center", va="center", fontsize=7,
                transform=ax.transAxes)  # (an empty panel said nothing)
    ax.set_yscale("log")
    ax.set_xlabel("spatial frequency (cycles/pixel)", fontsize=8)
    ax.set_ylabel("noise power (levels², log)", fontsize=8)
    ax.set_title(f"radially averaged noise power spectrum ({WINDOW}x{WINDOW} windows; flat = white)", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(cells[1])
    edges = band_edges()
    mids = (edges[:-1] + edges[1:]) / 2
    for i, (row, colour) in enumerate(zip(report.rows, colours)):
        std = [np.nan if s is None else s for s in row.values["std_per_band"]]
        ax.plot(mids, std, color=colour, **_row_style(i), label=f"{_short(row.label)} (σ {_fmt(row.values['std'], 2)})")
    ax.set_xlabel("clean intensity (0-255)", fontsize=8)
    ax.set_ylabel("residual std (levels)", fontsize=8)
    ax.set_title("noise level against brightness (signal dependence)", fontsize=9)
    ax.legend(fontsize=7)


def _blind_panels(fig: Any, cells: Any, report: NoiseFitReport, colours: list[str]) -> None:
    ax = fig.add_subplot(cells[0])
    for i, (row, colour) in enumerate(zip(report.rows, colours)):
        ax.plot([1, 2, 4], row.values["sigma_per_octave"], color=colour, **_row_style(i),
                label=f"{_short(row.label)} (coarse/fine {row.values['coarse_vs_fine']:.2f})")
    ax.plot([1, 2, 4], [report.rows[0].values["sigma_per_octave"][0] / k for k in (1, 2, 4)], color="gray",
            linestyle=":", label="white noise would halve")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("scale (pixels per sample, luma)", fontsize=8)
    ax.set_ylabel("finest diagonal Haar σ (levels)", fontsize=8)
    ax.set_title("noise σ per octave, median over crops (blind stand-in for a spectrum)", fontsize=9)
    ax.legend(fontsize=7)
    ax = fig.add_subplot(cells[1])
    for i, (row, colour) in enumerate(zip(report.rows, colours)):
        ax.scatter(row.values["brightness_per_crop"], row.values["blind_sigma_per_crop"], s=8, color=colour,
                   marker=MARKERS[i % len(MARKERS)],
                   label=f"{_short(row.label)} (median {row.values['blind_sigma_median']:.2f})")
    ax.set_xlabel("crop mean brightness (0-255)", fontsize=8)
    ax.set_ylabel("blind σ of the crop (levels)", fontsize=8)
    ax.set_title("noise level against brightness (blind σ per crop)", fontsize=9)
    ax.legend(fontsize=7)


def _crop_panels(fig: Any, cells: Any, report: NoiseFitReport) -> None:
    if report.mode == "paired":
        spread = max(report.rows[0].values["std"], 1.0)
        caption = f"residual crop, 128 + r x {40 / spread:.1f} (same scale for all)"
    for i, row in enumerate(report.rows):
        ax = fig.add_subplot(cells[i])
        if report.mode == "paired":
            shown = np.clip(128.0 + row.crop * (40.0 / spread), 0, 255).astype(np.uint8)
            sub = f"{caption}\nσ {_fmt(row.values['std'], 2)}"
        else:
            shown = np.clip(np.rint(to_255(row.crop)), 0, 255).astype(np.uint8)
            sub = (f"a {shown.shape[0]}px crop, enlarged (pixels kept square)\n"
                   f"blind σ median {_fmt(row.values['blind_sigma_median'], 2)}")
        ax.imshow(shown[..., 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.set_title(f"{_short(row.label)}\n{sub}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])


def _short(label: str, width: int = 44) -> str:
    """A row's label as figure text: shortened in its middle, keeping its start and its end (two --model files in
    sibling folders differ near the end; a Poisson-Gaussian fit's σ is there), and drawn as written (a --model path
    may hold $ or a leading _)."""
    head = width // 3
    return as_label(label if len(label) <= width else label[:head] + "…" + label[len(label) - (width - 1 - head):])


def write_report(report: NoiseFitReport, out_dir: Path | str) -> list[Path]:
    """noise_fit.json, noise_fit.md and noise_fit.png in ``out_dir`` (prepared by the caller), written as one: all
    three are made before the first is written (drawing takes seconds) and built aside, so an interrupt or a full
    disk leaves the folder as it was, not a report whose files disagree (which the same command then refused as
    a folder not empty)."""
    out_dir = Path(out_dir)
    names = ["noise_fit.json", "noise_fit.md", "noise_fit.png"]
    picture, table, record = figure_png(figure(report), dpi=PICTURE_DPI), markdown(report), report_json(report)
    with built_aside(out_dir, first=names) as folder:
        for name, text in zip(names[:2], (record, table)):
            atomic_write_text(folder / name, text)
        atomic_write_bytes(folder / names[2], picture)
    return [out_dir / name for name in names]


def iter_rows(report: NoiseFitReport) -> Iterator[tuple[str, list[str]]]:
    """(label, formatted cells) per row, for a terminal table: the columns ``table_columns`` names."""
    for r in report.rows:
        v = r.values
        if report.mode == "paired":
            yield r.label, [_fmt(v["kl_mean"], 4), _fmt(v["std"], 2), _fmt(v["lag1"]), _fmt(v["rg_corr"])]
        else:
            yield r.label, [_fmt(v["blind_sigma_median"], 2), _fmt(v["luma_vs_colour"], 2),
                            _fmt(v["coarse_vs_fine"], 2), _fmt(v.get("detail_kl_mean"), 4),
                            _fmt(v.get("added_std"), 2)]


def table_columns(report: NoiseFitReport) -> list[str]:
    if report.mode == "paired":
        return ["KL mean (nats)", "σ", "lag-1 corr", "R-G corr"]
    return ["blind σ median", "luma/colour σ", "coarse/fine σ", "detail KL mean", "σ added"]
