"""The benchmark report's two plots (PSNR against noise, PSNR against time), drawn with matplotlib's Agg canvas
without pyplot, and the grouping of noise conditions into one-parameter sweeps that the first one draws as lines."""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from data_tools.noise import parse_noise_spec
from denoise_gan.evaluation.method_names import BASELINE
from denoise_gan.evaluation.pictures import MARKERS, as_label, figure_png


@dataclass(frozen=True)
class NoiseFamily:
    """Noise conditions that differ in one parameter only, sorted along it: the plot joins these with a line.

    A condition that is alone in its family (a mixture, a drawn range, a model asked at one setting) keeps a
    family of its own and ``axis`` "", and is drawn as markers: a line between unrelated conditions (Gaussian
    σ 25 to Poisson peak 30) would suggest a trend that is not there.
    """

    axis: str  # the parameter that varies, e.g. "Gaussian σ (0-255 scale)"; "" for a family of one
    members: tuple[tuple[str, float | None], ...]  # (condition, value of that parameter)

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.members]


AXIS_NAMES = {("gaussian", "sigma"): "Gaussian σ (0-255 scale)"}  # other parameters read "model parameter"


def _fixed_values(label: str) -> tuple[tuple[tuple[str, str], ...], tuple[float, ...]] | None:
    """((model, parameter), ...) and their values for a one-chain spec whose values are all fixed, else None."""
    try:
        spec = parse_noise_spec(label)
    except ValueError:
        return None
    if len(spec.chains) != 1:
        return None
    keys, values = [], []
    for stage in spec.chains[0]:
        for name, value in stage.params.items():
            if value.lo != value.hi:
                return None
            keys.append((stage.model, name))
            values.append(value.lo)
    return tuple(keys), tuple(values)


def noise_families(noises: Sequence[str]) -> list[NoiseFamily]:
    """The conditions grouped into one-parameter sweeps (same models, every other value equal), in order of
    first appearance; the sweep parameter of a group is the first one whose value differs within it."""
    parsed = {n: _fixed_values(n) for n in noises}
    by_models: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for n in noises:
        if parsed[n] is not None:
            by_models.setdefault(parsed[n][0], []).append(n)
    family_of: dict[str, tuple[object, ...]] = {n: ("alone", n) for n in noises}
    sweep_of: dict[tuple[object, ...], int] = {}
    for keys, labels in by_models.items():
        values = [parsed[n][1] for n in labels]
        varying = [i for i in range(len(keys)) if len({v[i] for v in values}) > 1]
        if not varying:
            continue  # one condition (or the same one written twice): nothing to sweep
        sweep = varying[0]
        for n, v in zip(labels, values):
            key = (keys, v[:sweep] + v[sweep + 1:])
            family_of[n], sweep_of[key] = key, sweep
    grouped: dict[tuple[object, ...], list[str]] = {}
    for n in noises:
        grouped.setdefault(family_of[n], []).append(n)
    out = []
    for key, labels in grouped.items():
        if len(labels) < 2 or key not in sweep_of:
            out += [NoiseFamily("", ((n, None),)) for n in labels]
            continue
        keys, sweep = key[0], sweep_of[key]
        model, param = keys[sweep]
        members = sorted(((n, parsed[n][1][sweep]) for n in labels), key=lambda m: m[1])
        out.append(NoiseFamily(AXIS_NAMES.get((model, param), f"{model} {param}"), tuple(members)))
    return out


def shown_psnr(entry: dict[str, Any]) -> float:
    """A summary entry's PSNR as tables show and rank it: the mean over the pairs that are not identical
    (``evaluate``'s rule), infinite only when every pair is identical."""
    finite = entry.get("psnr_finite", entry["psnr"])
    return math.inf if finite is None else float(finite)


def contender(entry: dict[str, Any]) -> bool:
    """Whether a row or summary entry may be marked best: a method's, not the noisy input it starts from (on a
    clean photo that scores infinite and would be marked best of all)."""
    return entry["method"] != BASELINE


def contenders(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries that may be marked best (``contender``)."""
    return [e for e in entries if contender(e)]


def shown_best(value: float, best: float | None, digits: int) -> bool:
    """Whether a value ties the best as the table shows both (to ``digits`` places): marked apart on hidden
    digits, one of two cells reading 32.41 was green."""
    if best is None:
        return False
    if math.isinf(value) or math.isinf(best):
        return value == best
    return round(value, digits) == round(best, digits)


def best_psnr(entries: list[dict[str, Any]]) -> float | None:
    """The PSNR to mark best among the contenders, or None when they left out different numbers of photos
    returned bit for bit (each mean is over the photos it did not return so): such a method could be ranked
    below one that is worse on every photo. One that returned every photo bit for bit is best, at infinity."""
    mine = contenders(entries)
    if any(math.isinf(shown_psnr(e)) for e in mine):
        return math.inf
    if len({e.get("identical_pairs", 0) for e in mine}) > 1:
        return None
    return max((shown_psnr(e) for e in mine), default=None)


def _plotted(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries a plot can draw: every one whose shown PSNR is finite (a condition where some outputs equal
    their clean image keeps its point, at the mean over the others, as the tables show it)."""
    return [s for s in summary if not math.isinf(shown_psnr(s))]


def _titled(ax: Any, title: str, summary: list[dict[str, Any]], timed: bool = False) -> None:
    """The plot's title, and under it the entries it cannot draw: a method that returned every photo bit for bit
    has an infinite PSNR and no point, which left the plot saying less than the tables without a word."""
    gone = [f"{as_label(s['method'])} at {as_label(s['noise'])}" for s in summary if math.isinf(shown_psnr(s))
            and not (timed and (s["method"] == BASELINE or not s["mp_per_s"]))]
    if gone:
        listed = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
        note = textwrap.fill(f"not drawn (every output equals its clean image, PSNR infinite): {listed}", 90)
        ax.set_title(note, fontsize="x-small", loc="left")
        ax.figure.suptitle(title, y=1.0, va="bottom")  # above the note, not over it
    else:
        ax.set_title(title)


def _figure(width: float, height: float) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # imported on use: matplotlib is slow to import

    fig = Figure(figsize=(width, height))
    ax = fig.subplots()
    ax.grid(True, alpha=0.3)
    return fig, ax


def _colours(methods: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {m: cmap(i % 10) for i, m in enumerate(methods)}


def _markers(methods: Sequence[str]) -> dict[str, str]:
    """A shape per method, so the methods differ in more than colour."""
    return {m: MARKERS[i % len(MARKERS)] for i, m in enumerate(methods)}


def plot_psnr_vs_noise(summary: list[dict[str, Any]], noises: Sequence[str], methods: Sequence[str]) -> bytes | None:
    """Mean PSNR per method across noise conditions: lines only along one noise model's parameter (on a
    numeric axis when every condition is one such sweep), markers for conditions that stand alone."""
    if len(noises) < 2:
        return None
    families = noise_families(noises)
    numeric = len(families) == 1 and families[0].axis != ""
    order = [n for family in families for n in family.labels]  # a family's members side by side
    xs = dict(families[0].members) if numeric else {n: float(i) for i, n in enumerate(order)}
    psnr = {(s["method"], s["noise"]): shown_psnr(s) for s in _plotted(summary)}
    partial = {(s["method"], s["noise"]) for s in _plotted(summary) if s.get("identical_pairs")}
    fig, ax = _figure(6.4, 4.2)
    colours, shapes = _colours(methods), _markers(methods)
    for method in methods:
        labelled = False
        for family in families:
            points = [(xs[n], psnr[(method, n)]) for n in family.labels if (method, n) in psnr]
            if not points:
                continue
            line = ("--" if method == BASELINE else "-") if family.axis else "none"
            ax.plot(*zip(*points), marker=shapes[method], color=colours[method], linestyle=line,
                    label="_" if labelled else as_label(method))  # "_": one legend entry per method
            labelled = True
        hollow = [(xs[n], psnr[(method, n)]) for n in order if (method, n) in partial]
        if hollow:  # a mean over fewer photos than its neighbours' (those returned exactly are left out)
            ax.plot(*zip(*hollow), marker=shapes[method], color=colours[method], markerfacecolor="white",
                    linestyle="none", label="_")
    if partial:
        ax.plot([], [], marker="o", color="gray", markerfacecolor="white", linestyle="none",
                label="hollow: mean over the photos not returned exactly")
    if numeric:
        ax.set_xlabel(families[0].axis)
    else:
        ax.set_xticks(list(xs.values()), [as_label(_tick_label(n)) for n in order], rotation=20, ha="right")
        ax.set_xlabel("noise condition (lines join one noise model along its parameter)")
    ax.set_ylabel("mean PSNR (dB)")
    _titled(ax, "PSNR vs noise level", summary)
    ax.legend(fontsize="small")
    return figure_png(fig, dpi=110, tight=True)


TICK_WIDTH, TICK_LINES = 24, 4  # a noise condition under the plot: characters a line, and lines at most


def _tick_label(noise: str) -> str:
    """A noise condition whole, on lines of about TICK_WIDTH characters broken after its `+`, `|` or `,` (cut to
    its first 22, `gaussian:sigma=15+jpeg:quality=80` and `...=95` read alike). A label with nothing to break at
    (a folder of pairs) is cut into lines, at most TICK_LINES, its middle elided: on one line it squeezed the plot."""
    parts = re.findall(r"[^+|,]+[+|,]?", noise)
    if len(parts) == 1:
        lines = [noise[i:i + TICK_WIDTH] for i in range(0, len(noise), TICK_WIDTH)]
        return "\n".join(lines if len(lines) <= TICK_LINES else [lines[0], "…", *lines[-(TICK_LINES - 2):]])
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part) > TICK_WIDTH:
            lines.append(line)
            line = part.lstrip()
        else:
            line += part
    return "\n".join([*lines, line])


def plot_psnr_vs_time(summary: list[dict[str, Any]], noises: Sequence[str], methods: Sequence[str]) -> bytes | None:
    """Mean PSNR against seconds per megapixel (log), one marker shape per noise condition."""
    fig = psnr_vs_time_figure(summary, noises, methods)
    return None if fig is None else figure_png(fig, dpi=110, tight=True)


def _plain_seconds(value: float, _position: Any = None) -> str:
    """A time-axis tick as a plain number (0.05, 2, 30), not 10^x notation."""
    return f"{value:.6g}" if value >= 1e-4 else f"{value:.1e}"


def psnr_vs_time_figure(summary: list[dict[str, Any]], noises: Sequence[str], methods: Sequence[str]) -> Any:
    """The figure of ``plot_psnr_vs_time``, or None when no method was timed."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = [s for s in _plotted(summary) if s["method"] != BASELINE and s["mp_per_s"]]
    if not points:
        return None
    fig, ax = _figure(6.4, 4.2)
    colours = _colours(methods)
    seconds = [1.0 / s["mp_per_s"] for s in points]
    middle = math.sqrt(min(seconds) * max(seconds))  # points right of it are named on their left, off the legend
    for s, x in zip(points, seconds):
        ax.scatter(x, shown_psnr(s), color=colours[s["method"]],
                   marker=MARKERS[list(noises).index(s["noise"]) % len(MARKERS)], s=42, zorder=3)
        left = x > middle  # the shape is the noise's: the method is named beside it, not only coloured
        ax.annotate(as_label(s["method"]), (x, shown_psnr(s)), xytext=(-5 if left else 5, 3), fontsize="x-small",
                    textcoords="offset points", ha="right" if left else "left")
    ax.set_xscale("log")
    if max(seconds) / min(seconds) < 30:  # under ~1.5 decades: label 1-2-5 ticks too, or few would be labelled
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(_plain_seconds))
    ax.xaxis.set_minor_formatter(NullFormatter())
    handles = [ax.scatter([], [], color=colours[m], marker="o", label=as_label(m)) for m in methods if m != BASELINE]
    if len(noises) > 1:
        handles += [ax.scatter([], [], color="gray", marker=MARKERS[i % len(MARKERS)], label=as_label(n))
                    for i, n in enumerate(noises)]
    # beside the axes: inside them it hid the axis labels and the points it names
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_xlabel("seconds per megapixel (log scale, lower is faster)")
    ax.set_ylabel("mean PSNR (dB)")
    _titled(ax, "PSNR vs time", summary, timed=True)
    return fig
