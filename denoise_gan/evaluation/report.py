"""The benchmark's visual report: plots and one self-contained HTML page showing its crops.

The page is one file that works wherever it is moved or mailed: CSS is inline, there is no script, no web
font and no link, and every image is embedded as a PNG ``data:`` URI. The same PNGs are also kept in crops/
(``report_crops``) and plots/ beside it, for a ``--resume`` and for other documents. Plots are drawn with
matplotlib's Agg canvas without pyplot, so no global backend or window state is touched."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_tools.atomic_files import atomic_write_bytes, atomic_write_text
from data_tools.paths import real_path
from denoise_gan.evaluation.method_names import REAL_PAIRS
from denoise_gan.evaluation.report_crops import CROP, MAX_CROP_IMAGES, ZOOM, crop_relpath, legacy_slug
from denoise_gan.evaluation.report_plots import (
    best_psnr,
    contender,
    contenders,
    plot_psnr_vs_noise,
    plot_psnr_vs_time,
    shown_best,
    shown_psnr,
)

PLOTS_DIR = "plots"
REPORT_HTML = "report.html"
BEST_SAID = "<span class='said'> (best)</span>"  # read out, not shown: bold on green says it to the eye
BEST_PSNR_SAID = "<span class='said'> (best PSNR)</span>"  # an image's cell and crop, marked on PSNR alone


def _run_order(inputs: list[dict[str, Any]], noise: str, rows: list[dict[str, Any]]) -> list[str]:
    """A noise's scored images in the order its run met them (and gave the first ones crops): not over all sets."""
    scored = {r["image"] for r in rows}
    return list(dict.fromkeys(i["image"] for i in inputs if i["noise"] == noise and i["image"] in scored))


def model_loads(models: Sequence[dict[str, Any]]) -> list[tuple[str, float, str]]:
    """Each load of a model once: (its rows' names, seconds, checkpoint); rows at several strengths share one."""
    loads: dict[tuple[str, str | None, float], list[str]] = {}
    for m in models:
        loads.setdefault((m["checkpoint"], m.get("sha256"), m["load_seconds"]), []).append(m["method"])
    return [(", ".join(names), seconds, checkpoint) for (checkpoint, _, seconds), names in loads.items()]


# ---- HTML ----------------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #1b1b1b;
       max-width: 1500px; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 36px; }
.meta { color: #555; margin-top: 0; } .small { color: #666; font-size: 12px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #d0d0d0; padding: 4px 8px; } th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { background: #cdeccd; font-weight: 600; } th[scope=row] { background: none; font-weight: 400; }
td.rule { font-size: 13px; color: #333; max-width: 900px; }
.crops { display: grid; gap: 6px; margin: 6px 0 18px; overflow-x: auto; }
figure { margin: 0; text-align: center; min-width: 0; } figcaption.best { font-weight: 700; color: #11711a; }
.crops img { display: block; box-sizing: border-box; max-width: 100%; height: auto; margin: 0 auto;
             border: 1px solid #bbb; image-rendering: pixelated; }
figcaption { font-size: 12px; margin-top: 2px; overflow-wrap: anywhere; }
.missing { aspect-ratio: 1; max-width: 256px; border: 1px dashed #bbb; display: flex; align-items: center;
           justify-content: center; color: #666; font-size: 12px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; } p.note { font-size: 14px; } .fail { color: #a40000; }
.plots img { max-width: min(700px, 100%); height: auto; border: 1px solid #ddd; }
dl { font-size: 13px; } dt { font-weight: 600; margin-top: 6px; } dd { margin-left: 18px; }
.said { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
"""


def _seed_text(cfg: dict[str, Any]) -> str:
    """The noise seed a report states: --seed for noise drawn here, a synth set's own for the noisy files read,
    none for the user's own pairs (their noise is the camera's)."""
    own = sum(str(n).startswith(REAL_PAIRS) for n in cfg.get("noises", []))
    sets = len(cfg.get("noisy_sets") or []) - own
    read = " and ".join([*(["synth sets (their manifests' seeds)"] if sets > 0 else []),
                         *(["your own pairs (their noise as shot)"] if own else [])])
    if cfg.get("seed") is None:
        return f"noisy files read from {read}"
    return f"seed {cfg['seed']}" + (f"; noisy files read from {read}" if read else "")


def _calibration_text(cal: dict[str, Any]) -> str:
    """What `calibrate` chose from this benchmark (its fit/), and where its means differ from this page's."""
    capped = (f" Its means count a photo returned exactly as {cal['cap']:g} dB ({cal['capped']} such row(s)), "
              "where this page leaves such a photo out of the PSNR mean.") if cal["capped"] else ""
    return (f"<p class='meta'><b>Calibration:</b> each model row's strength is a factor tried; calibrate chose "
            f"{cal['chosen']:g} (the best mean over the noises of the mean PSNR over the photos) and wrote it to "
            f"../{_e(cal['weights'])}.{_e(capped)}</p>")


def _page_title(out_dir: Path, data: dict[str, Any]) -> str:
    """``benchmark: FOLDER``; a calibration's page, always in its output's fit/, is named after that output."""
    where = real_path(out_dir)
    return f"calibration: {where.parent.name}" if data.get("calibration") else f"benchmark: {where.name}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes) -> str:
    """A PNG inside the page itself, so the report is one file that still shows its images when moved."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fmt_psnr(value: float | None) -> str:
    return "∞" if value is None else f"{value:.2f}"


def _fmt_mean_psnr(entry: dict[str, Any]) -> str:
    """A summary's PSNR: the mean over the pairs that are not identical, starred when some are."""
    value = shown_psnr(entry)
    if math.isinf(value):
        return "∞"
    identical = entry.get("identical_pairs", 0)
    return f"{value:.2f}" + (f" <span class='small'>({identical} identical, left out)</span>" if identical else "")


def _num(text: str, best: bool, said: str = BEST_SAID) -> str:
    """A number's cell; a best one also says so in words, for a screen reader, which reads no colour or weight."""
    return f"<td class='num best'>{text}{said}</td>" if best else f"<td class='num'>{text}</td>"


def _score(value: float | None) -> float:
    return math.inf if value is None else float(value)


def _mean_table(summary: list[dict[str, Any]], methods: Sequence[str]) -> str:
    rows = sorted((s for s in summary), key=lambda s: list(methods).index(s["method"]))
    best = best_psnr(rows)
    best_ssim = max((s["ssim"] for s in contenders(rows)), default=None)
    timed = [s["seconds"] for s in contenders(rows)]
    fastest = min(timed) if timed else None
    counts = {s["images"] for s in rows}
    out = ["<table><tr>" + "".join(f"<th scope='col'>{h}</th>" for h in (
        "method", "PSNR (dB)", "SSIM", "seconds / image", "MP/s", "images")) + "</tr>"]
    for s in rows:
        speed = "-" if s["mp_per_s"] is None else f"{s['mp_per_s']:.3g}"
        marked = contender(s)
        out.append(f"<tr><th scope='row'>{_e(s['method'])}</th>"
                   + _num(_fmt_mean_psnr(s), marked and shown_best(shown_psnr(s), best, 2))
                   + _num(f"{s['ssim']:.4f}", marked and shown_best(s["ssim"], best_ssim, 4))
                   + _num(f"{s['seconds']:.3f}", marked and shown_best(s["seconds"], fastest, 3))
                   + f"<td class='num'>{speed}</td><td class='num'>{s['images']}</td></tr>")
    out.append("</table>")
    if len(counts) > 1:
        out.append("<p class='fail'>Methods finished different numbers of images (see failures), so their means "
                   "are over different sets.</p>")
    return "".join(out)


def _image_winners(by_key: dict[tuple[str, str], dict[str, Any]], image: str,
                   methods: Sequence[str]) -> set[str]:
    """The methods with an image's best PSNR: the table's bold cells and the crops' marked captions, one rule."""
    present = [by_key[(image, m)] for m in methods if (image, m) in by_key]
    best = max((_score(r["psnr"]) for r in contenders(present)), default=None)
    return {r["method"] for r in present if contender(r) and _score(r["psnr"]) == best}


def _per_image_table(rows: list[dict[str, Any]], images: Sequence[str], methods: Sequence[str]) -> str:
    by_key = {(r["image"], r["method"]): r for r in rows}
    out = ["<table><tr>" + "".join(f"<th scope='col'>{_e(c)}</th>" for c in ("image", *methods)) + "</tr>"]
    for image in images:
        winners = _image_winners(by_key, image, methods)
        cells = []
        for m in methods:
            r = by_key.get((image, m))
            if r is None:
                cells.append("<td class='num small'>failed</td>")
                continue
            cells.append(_num(f"{_fmt_psnr(r['psnr'])} <span class='small'>/ {r['ssim']:.4f}</span>", m in winners,
                              BEST_PSNR_SAID))
        out.append(f"<tr><th scope='row'>{_e(image)}</th>{''.join(cells)}</tr>")
    out.append("</table>")
    return "".join(out)


def _figure_html(out_dir: Path, relpath: str, caption: str, best: bool, legacy: str = "") -> str:
    if not (out_dir / relpath).is_file() and legacy and (out_dir / legacy).is_file():
        relpath = legacy  # a row reused by --resume from a benchmark written before crops had readable names
    if (out_dir / relpath).is_file():
        body = f"<img src='{_data_uri((out_dir / relpath).read_bytes())}' alt='{_e(caption)}'>"
    else:
        body = "<div class='missing'>crop missing</div>"
    said = BEST_PSNR_SAID if best else ""
    return f"<figure>{body}<figcaption{' class=best' if best else ''}>{_e(caption)}{said}</figcaption></figure>"


def _crops_html(out_dir: Path, noise: str, rows: list[dict[str, Any]], images: Sequence[str],
                methods: Sequence[str]) -> str:
    by_key = {(r["image"], r["method"]): r for r in rows}
    out = []
    for image in images[:MAX_CROP_IMAGES]:
        if not any((image, m) in by_key for m in methods):
            continue
        winners = _image_winners(by_key, image, methods)
        figures = []
        for m in methods:
            r = by_key.get((image, m))
            if r is None:
                continue
            figures.append(_figure_html(out_dir, crop_relpath(noise, image, m), f"{m} · {_fmt_psnr(r['psnr'])} dB",
                                        m in winners, crop_relpath(noise, image, m, legacy_slug)))
        figures.append(_figure_html(out_dir, crop_relpath(noise, image, "clean"), "clean (reference)", False))
        # one row per image, so every method sits beside the noisy input and the clean reference
        columns = f"grid-template-columns: repeat({len(figures)}, minmax(96px, {CROP * ZOOM}px))"
        out.append(f"<h4>{_e(image)}</h4><div class='crops' style='{columns}'>{''.join(figures)}</div>")
    if len(images) > MAX_CROP_IMAGES:
        out.append(f"<p class='small'>Crops shown for the first {MAX_CROP_IMAGES} of {len(images)} images.</p>")
    return "".join(out)


def _protocol_html(protocol: dict[str, Any]) -> str:
    items = []
    for key, value in protocol.items():
        text = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        items.append(f"<dt>{_e(key)}</dt><dd>{_e(text)}</dd>")
    return f"<dl>{''.join(items)}</dl>"


def render_html(out_dir: Path, data: dict[str, Any], plots: dict[str, bytes]) -> str:
    """The report page for a results dict (as in results.json), every image embedded: ``plots`` maps a title to
    its PNG, crops are read from ``out_dir``."""
    cfg = data["config"]
    noises, methods = cfg["noises"], cfg["methods"]
    rows, summary = data["rows"], data["summary"]
    images_all = list(dict.fromkeys(i["image"] for i in data["inputs"]))
    sigma_mode = "oracle σ (the true σ of each image)" if cfg["oracle_sigma"] else \
        "blind σ (estimated from each noisy image)"
    source = f"clean images from {cfg['clean_dir']}" if cfg["clean_dir"] else \
        f"paired synth sets {', '.join(cfg['noisy_sets'])}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(_page_title(out_dir, data))}</title><style>{STYLE}</style></head><body>",
        "<h1>denoise-gan benchmark</h1>",
        f"<p class='meta'>{len(images_all)} image(s) × {len(noises)} noise condition(s) × {len(methods)} method(s); "
        f"{_e(source)}; {_e(_seed_text(cfg))}; classical methods get {_e(sigma_mode)}. "
        f"denoise-gan {_e(data['version'])}. Scores: PSNR (dB) / SSIM on integer images, outputs rounded to the "
        f"image dtype (protocol {_e(data['protocol']['name'])}, below). Bold on green: the best of the methods.</p>",
        *([_calibration_text(data["calibration"])] if data.get("calibration") else []),
    ]
    if plots:
        parts.append("<h2>Overview</h2><div class='plots'>")
        parts += [f"<img src='{_data_uri(png)}' alt='{_e(t)}: the means in the tables below'>"
                  for t, png in plots.items()]
        parts.append("</div><p class='small'>The noisy input is not in the time plot (it takes no time). Its times "
                     "are seconds per megapixel over the condition's images, without model loading (see Methods)."
                     "</p>")
    for noise in noises:
        mine = [r for r in rows if r["noise"] == noise]
        images = _run_order(data["inputs"], noise, mine)
        parts.append(f"<h2>Noise: {_e(noise)}</h2>")
        if not mine:
            parts.append("<p class='fail'>No results for this condition.</p>")
            continue
        parts += ["<h3>Mean over images</h3>", _mean_table([s for s in summary if s["noise"] == noise], methods)]
        parts += ["<h3>Per image: PSNR (dB) / SSIM</h3>", _per_image_table(mine, images, methods)]
        parts.append(f"<h3>Crops (most textured window of the clean image, up to {CROP}×{CROP}, ×{ZOOM} nearest; "
                     "the PSNR under each is the whole image's)</h3>")
        parts.append(_crops_html(out_dir, noise, mine, images, methods))
    parts.append("<h2>Methods</h2><table><tr><th scope='col'>method</th><th scope='col'>settings</th>"
                 "<th scope='col'>uses σ</th></tr>")
    parts += [f"<tr><td>{_e(m['name'])}</td><td class='rule'>{_e(m['rule'])}</td>"
              f"<td>{'yes' if m['uses_sigma'] else 'no'}</td></tr>" for m in data["methods"]]
    parts.append("</table>")
    if data["models"]:
        loads = "; ".join(f"{_e(names)} {seconds:.2f} s ({_e(checkpoint)})"
                          for names, seconds, checkpoint in model_loads(data["models"]))
        parts.append(f"<p class='note'>Model load time (reported once, not in the per-image seconds; includes one "
                     f"warm-up pass): {loads}</p>")
    if data["failures"]:
        parts.append("<h2>Failures</h2><ul>")
        parts += [f"<li class='fail'>{_e(f['image'])} [{_e(f['noise'])}]"
                  f"{' ' + _e(f['method']) if f['method'] else ''}: {_e(f['reason'])}</li>" for f in data["failures"]]
        parts.append("</ul>")
    parts.append("<h2>Protocol</h2>")
    parts.append(_protocol_html(data["protocol"]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(out_dir: Path | str, data: dict[str, Any]) -> Path:
    """Write the plots (plots/) and report.html, which embeds them and the crops, into ``out_dir`` (atomically)
    and return the page's path."""
    out_dir = Path(out_dir)
    cfg = data["config"]
    plots: dict[str, bytes] = {}
    summary, noises, methods = data["summary"], cfg["noises"], cfg["methods"]
    for title, name, png in (
        ("PSNR vs noise level", "psnr_vs_noise.png", plot_psnr_vs_noise(summary, noises, methods)),
        ("PSNR vs time", "psnr_vs_time.png", plot_psnr_vs_time(summary, noises, methods)),
    ):
        if png is not None:
            atomic_write_bytes(out_dir / PLOTS_DIR / name, png)
            plots[title] = png
        else:  # not made this time (one condition): an earlier run's would pass for this one's
            (out_dir / PLOTS_DIR / name).unlink(missing_ok=True)
    page = out_dir / REPORT_HTML
    atomic_write_text(page, render_html(out_dir, data, plots))
    return page
