"""The report's figures ([`rlsub.analysis.report`][rlsub.analysis.report]): performance against d, d_int90 by experiment and
across network widths. Drawn to be read without the text: a valid estimate is marked with its CI; an
open bound (beyond the largest tested d) is an arrow, and the legend says so; a group whose baseline
is below the reference is drawn grey and dashed, never with a d_int; a panel with nothing to draw
says why.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from rlsub.analysis.dint import BELOW_REFERENCE, DintResult

#: Grey for groups that have no d_int (baseline below the reference).
INVALID_COLOR = "0.55"
OPEN_LABEL = "open bound: beyond the largest tested d (arrow)"


def valid(r: DintResult) -> bool:
    """A group with a d_int to show: computable, and its baseline at or above the reference."""
    return r.computable and not r.baseline_below_reference


def why_empty(results: list[DintResult]) -> str:
    """Why no d_int can be drawn, counted over ``results``."""
    below = sum(1 for r in results if r.computable and r.baseline_below_reference)
    never = sum(1 for r in results if valid(r) and r.estimate is None)
    broken = [r for r in results if not r.computable]
    parts = []
    if below:
        parts.append(f"{below} group(s): {BELOW_REFERENCE} (train the baseline longer, or check the reference)")
    if never:
        parts.append(f"{never} group(s) never reach 90% of the baseline at the tested d (extend --dims)")
    if broken:
        parts.append(f"{len(broken)} group(s) cannot be normalised: {_reason(broken[0])}")
    if not results:
        parts.append("no subspace trials in these stores yet")
    return "No valid d_int90 to draw. " + "; ".join(parts) + "."


def _reason(r: DintResult) -> str:
    """Why ``r`` has no normalised performance: its first note that is not the reference flag."""
    return next((n for n in r.notes if not n.startswith(BELOW_REFERENCE)), r.notes[0] if r.notes else "no baseline")


def _empty(ax, text: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 60)), ha="center", va="center", fontsize=9,
            transform=ax.transAxes, color="0.25")


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color) -> None:
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=color, linewidth=1.3))


def plot_performance(results: list[DintResult], path: Path, threshold: float, name: Callable[[DintResult], str]) -> str:
    """One panel per task: mean normalised performance at each tested d (shaded: 90% CI); a valid
    group's estimate (dotted) and its CI as a bar on the threshold line (arrow: open); invalid groups
    grey and dashed."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    tasks = sorted({r.env for r in results})
    ncols = min(2, max(1, len(tasks)))
    nrows = max(1, -(-len(tasks) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 5.2 * nrows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(tasks):]:
        ax.set_visible(False)
    if not tasks:
        axes.flat[0].set_visible(True)
        _empty(axes.flat[0], why_empty(results))
    for ax, task in zip(axes.flat, tasks):
        mine = [r for r in results if r.env == task]
        drawn = [r for r in mine if r.computable]
        if not drawn:
            _empty(ax, f"{task}: nothing to plot. " + "; ".join(_reason(r) for r in mine))
            ax.set_title(task)
            continue
        top = max(r.dims[-1].d for r in drawn)
        has_open = False
        has_estimate = any(valid(r) and r.estimate for r in drawn)
        for r in drawn:
            ds = [s.d for s in r.dims]
            ok = valid(r)
            style = {} if ok else {"color": INVALID_COLOR, "linestyle": "--"}
            tag = "" if ok else f" ({BELOW_REFERENCE})"
            (line,) = ax.plot(ds, [s.mean for s in r.dims], marker="o", label=name(r) + tag, **style)
            c = line.get_color()
            ax.fill_between(ds, [s.ci[0] for s in r.dims], [s.ci[1] for s in r.dims], color=c, alpha=0.15, linewidth=0)
            if not ok:
                continue
            last = r.dims[-1].d
            if r.estimate is None:  # not reached: an arrow past the last tested d on the threshold line
                _arrow(ax, (last, threshold), (last * 2, threshold), c)
                has_open = True
                continue
            ax.axvline(r.estimate, color=c, linestyle=":", linewidth=1)
            lo, hi = r.estimate_ci or (None, None)
            ax.plot([lo or r.estimate, hi or last], [threshold, threshold], color=c, linewidth=4, alpha=0.5,
                    solid_capstyle="butt")
            if hi is None:
                _arrow(ax, (last, threshold), (last * 2, threshold), c)
                has_open = True
        ax.axhline(threshold, color="k", linestyle="--", linewidth=1)
        ax.set_xscale("log", base=2)
        ax.set_xlim(min(r.dims[0].d for r in drawn) / 1.5, top * 2.8)
        ax.set_ylim(-0.05, max(1.15, max(s.ci[1] for r in drawn for s in r.dims) + 0.05))
        ax.set_xlabel("subspace dimension d (log scale)")
        ax.set_ylabel("normalised performance (1 = full-space baseline)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        handles.append(Line2D([], [], color="k", linestyle="--", label=f"{threshold:.0%} of the baseline"))
        if has_estimate:
            handles += [Line2D([], [], color="0.3", linestyle=":", label="d_int estimate"),
                        Line2D([], [], color="0.3", linewidth=4, alpha=0.5, label="its 90% CI (on the threshold line)")]
        if has_open:
            handles.append(Line2D([], [], color="0.3", marker=">", linestyle="-", label=OPEN_LABEL))
        ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    fig.suptitle("Mean normalised performance over seeds (shaded: 90% bootstrap CI)", fontsize=10)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def plot_bars(results: list[DintResult], path: Path, paper: Callable[[DintResult], float | None],
              name: Callable[[DintResult], str]) -> str:
    """d_int90 estimates of the valid groups with their CIs (log scale; arrow: open upper bound), and the
    paper's value beside a bar only where ``paper`` gives one (the protocol matches)."""
    import matplotlib
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D

    rs = sorted((r for r in results if valid(r) and r.estimate), key=lambda r: r.estimate)
    refs = [paper(r) for r in rs]
    pair = any(v is not None for v in refs)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.3 * len(rs) + 2.5), 4.8), layout="constrained")
    if not rs:
        _empty(ax, why_empty(results))
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path.name
    x = np.arange(len(rs))
    vals = [r.estimate for r in rs]
    tops = [r.dims[-1].d for r in rs]
    lo = [r.estimate - (r.estimate_ci[0] or r.estimate) for r in rs]
    hi = [max(0.0, (r.estimate_ci[1] if r.estimate_ci[1] is not None else t) - r.estimate) for r, t in zip(rs, tops)]
    xs = x - 0.2 if pair else x
    ax.bar(xs, vals, width=0.4 if pair else 0.6, yerr=[lo, hi], capsize=4, label="measured (rlsub), 90% CI",
           color="tab:blue")
    opened = False
    for xi, r, t in zip(xs, rs, tops):
        if r.estimate_ci[1] is None:  # open: the whisker stops at the largest tested d, an arrow goes on
            _arrow(ax, (xi, t), (xi, t * 2.5), "tab:blue")
            opened = True
    ymax = max(vals + [t * 2.5 if r.estimate_ci[1] is None else 0 for r, t in zip(rs, tops)] + [1])
    if pair:
        ref_vals = [np.nan if v is None else v for v in refs]
        ax.bar(x + 0.2, ref_vals, width=0.4, color="none", edgecolor="tab:gray", hatch="//",
               label="Li et al. 2018 (same method and D)")
        ymax = max([ymax] + [v for v in ref_vals if v == v])
    ax.set_xticks(x, ["\n".join(textwrap.wrap(name(r), 22)) for r in rs], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylim(1, ymax * 3)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("d_int90 (estimate, 90% CI)")
    ax.set_title("d_int90 by experiment (log scale; valid baselines only)", fontsize=10)
    handles, _ = ax.get_legend_handles_labels()
    if opened:
        handles.append(Line2D([], [], color="tab:blue", marker="^", label=OPEN_LABEL))
    ax.set_ylim(1, ymax * 12)  # headroom above the data for the legend
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


def plot_widths(series: dict[tuple[str, str, str, str], list[DintResult]], path: Path,
                method_name: Callable[[str], str]) -> str:
    """d_int90 against D for experiments that differ only in width (valid groups only); an open upper
    bound or an estimate not reached is an arrow up from the largest tested d."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    opened = False
    for (env, method, proj, _), rs in series.items():
        pts = [r for r in rs if r.estimate]
        if not pts:
            continue
        Ds = [r.D for r in pts]
        vals = [r.estimate for r in pts]
        lo = [max(0.0, v - (r.estimate_ci[0] or v)) for v, r in zip(vals, pts)]
        hi = [max(0.0, (r.estimate_ci[1] if r.estimate_ci[1] is not None else r.dims[-1].d) - v) for v, r in zip(vals, pts)]
        cont = ax.errorbar(Ds, vals, yerr=[lo, hi], marker="o", capsize=4, label=f"{env} ({method_name(method)}, {proj})")
        c = cont.lines[0].get_color()
        for r in pts:
            if r.estimate_ci[1] is None:
                _arrow(ax, (r.D, r.dims[-1].d), (r.D, r.dims[-1].d * 2.5), c)
                opened = True
    handles, _ = ax.get_legend_handles_labels()
    if opened:
        handles.append(Line2D([], [], color="0.3", marker="^", label=OPEN_LABEL))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("native dimension D (network width)")
    ax.set_ylabel("d_int90 estimate (90% CI)")
    ax.set_title("Intrinsic dimension across network sizes (valid groups)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path.name


__all__ = ["INVALID_COLOR", "OPEN_LABEL", "plot_bars", "plot_performance", "plot_widths", "valid", "why_empty"]
