"""The difficulty atlas's figure: d50 and d_int90 with their CIs per task on a log-d axis, from atlas.csv alone.

Tasks are ranked by d50, the success dimension (where half the seeds reach 90% of the baseline: the
statistic five seeds place best), with d_int90 drawn beside it (a lighter mark and bar just below); rows
with no d50 (a CSV from before it) rank by d_int90. Three panels: baselines that reached their reference, rows with
no reference yet, and under-trained baselines (drawn apart: their d_int90 is relative to a weak
baseline). Families are coloured; RL and supervised rows share the axis.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from rlsub.errors import ConfigError

#: Task families, in the legend's order.
FAMILIES = ("classic control", "box2d", "mujoco", "minatar", "supervised")

#: Family colours (colour-blind safe, Okabe & Ito).
COLOURS = {"classic control": "#0072B2", "box2d": "#E69F00", "mujoco": "#009E73", "minatar": "#CC79A7",
           "supervised": "#D55E00"}


#: Figure panels: baselines that reached their reference, rows with no reference yet, under-trained baselines.
PANELS = {True: "reached", None: "no reference", False: "under-trained"}
_TITLES = {"reached": "baseline reached its reference",
           "no reference": "baseline not checked: no reference score, or not all its trials stored yet",
           "under-trained": "under-trained baseline (below its reference): not a d_int"}


@dataclass(frozen=True)
class Placement:
    """Where one CSV row goes in the figure."""

    label: str
    panel: str
    """One of PANELS' values: under-trained rows (and rows with no reference) are drawn apart."""
    rank: int
    x: float
    lo: float
    hi: float
    reached: bool
    colour: str
    text: str = ""
    """Drawn in the plot where a row has no mark (no d grid): why."""
    d50: float = math.nan
    """d50 and its CI as drawn (NaN: the row has none; 'not reached' drawn one grid step past the largest d)."""
    d50_lo: float = math.nan
    d50_hi: float = math.nan
    open_hi: bool = False
    """d_int90's CI is open above (beyond the largest tested d): its bar ends in an open arrowhead."""
    d50_open_hi: bool = False


def layout(rows: list[dict[str, Any]]) -> list[Placement]:
    """Rows ranked by d50 (by d_int90 where a row has no d50; not reached last, rows with no d grid after them)
    within their panel. A row with no grid (its baseline missed the reference) gets its label and no mark (``x`` NaN)."""
    out = []

    def num(v):
        return v is not None and not math.isnan(v)

    def rank_key(r):
        graded = num(r["dint90"])
        first = r.get("d50") if num(r.get("d50")) else r["dint90"]
        return (not graded, first if graded else 0.0, r["dint90"] if graded else 0.0, r["ci_hi"] if graded else 0.0,
                r["env"], r["method"])

    # Two rows of one env and method (a linear and a 64-64 policy, say) are told apart by their network.
    pairs = Counter((r["env"], r["method"]) for r in rows)
    for ok, panel in PANELS.items():
        mine = sorted((r for r in rows if r["baseline_ok"] is ok), key=rank_key)
        for rank, r in enumerate(mine):
            label = (f"{r['env']} ({r['method']}, {r['network']})" if pairs[r["env"], r["method"]] > 1
                     else f"{r['env']} ({r['method']})")
            if rank_key(r)[0]:
                out.append(Placement(label, panel, rank, math.nan, math.nan, math.nan, False,
                                     COLOURS.get(r["family"], "#555555"), _no_grid(r)))
                continue
            top = 2.0 * (r["d_max"] or 1)  # 'not reached' is drawn one grid step past the largest d
            reached = math.isfinite(r["dint90"])
            x = r["dint90"] if reached else top
            lo = r["ci_lo"] if math.isfinite(r["ci_lo"]) else top
            hi = r["ci_hi"] if math.isfinite(r["ci_hi"]) else top
            d50 = lo50 = hi50 = math.nan
            if num(r.get("d50")):
                d50, lo50, hi50 = (v if math.isfinite(v) else top for v in (r["d50"], r["d50_lo"], r["d50_hi"]))
            out.append(Placement(label, panel, rank, x, min(lo, x), max(hi, x), reached,
                                 COLOURS.get(r["family"], "#555555"), d50=d50, d50_lo=min(lo50, d50),
                                 d50_hi=max(hi50, d50), open_hi=reached and not math.isfinite(r["ci_hi"]),
                                 d50_open_hi=num(r.get("d50")) and math.isfinite(r["d50"])
                                 and not math.isfinite(r["d50_hi"])))
    return out


def _no_grid(r: dict[str, Any]) -> str:
    """A grid-less row's label: its baseline against the reference, at what budget."""
    at = f" at {r['budget'] / 1e6:g}M steps" if r.get("budget") else ""
    if str(r.get("note", "")).startswith(("grid incomplete", "baseline incomplete")):
        return r["note"].split(",")[0]
    if r["baseline_ok"] is False:
        return f"baseline {r['baseline']:.4g} < reference {r['reference']:g}{at}: no d grid run"
    if r["baseline_ok"] and r.get("note"):  # e.g. a raised budget whose grid has not run yet
        return f"baseline {r['baseline']:.4g} >= reference {r['reference']:g}{at}; {r['note'].split(';')[0]}"
    return "no d grid"


def draw_figure(rows: list[dict[str, Any]], path: str | os.PathLike):
    """Draw the atlas (dots with CI bars on a log-d axis, families coloured) to ``path``; returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    places = layout(rows)
    if not places:
        raise ConfigError("the atlas CSV has no rows to draw")
    panels = [p for p in PANELS.values() if any(q.panel == p for q in places)]
    sizes = [sum(q.panel == p for q in places) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, sharex=True, squeeze=False,
                             figsize=(8.0, 1.6 + 0.3 * sum(sizes) + 0.4 * len(panels)), gridspec_kw={"height_ratios": sizes})
    for ax, panel in zip(axes[:, 0], panels):
        mine = [q for q in places if q.panel == panel]
        for q in mine:
            if math.isnan(q.x):  # no d grid: say why, in grey, where the mark would be
                ax.text(0.01, q.rank, q.text, transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                        color="#666666")
                continue
            y = q.rank
            if not math.isnan(q.d50):  # d50 on the row, d_int90 just below it, lighter
                ax.plot([q.d50_lo, q.d50_hi], [y - 0.12, y - 0.12], color=q.colour, lw=2.0)
                ax.plot([q.d50], [y - 0.12], marker="s", color=q.colour, ms=6)
                if q.d50_open_hi:
                    ax.plot([q.d50_hi], [y - 0.12], marker=">", color=q.colour, markerfacecolor="white", ms=5)
                y += 0.18
            ax.plot([q.lo, q.hi], [y, y], color=q.colour, lw=1.0, alpha=0.55)
            ax.plot([q.x], [y], marker="o" if q.reached else ">", color=q.colour, alpha=0.7,
                    markerfacecolor=q.colour if q.reached else "white", ms=4.5)
            if q.open_hi:  # the CI's upper bound lies beyond the grid: an open arrowhead where the bar ends
                ax.plot([q.hi], [y], marker=">", color=q.colour, alpha=0.7, markerfacecolor="white", ms=4.5)
        ax.set_yticks([q.rank for q in mine], [q.label for q in mine], fontsize=8)
        ax.set_ylim(len(mine) - 0.5, -0.5)
        ax.set_xscale("log", base=2)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(_TITLES[panel], fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("subspace dimension d: ■ d50 (ranked by; P(seed reaches 90% of baseline) = 1/2), "
                           "● d_int90 below it\nbars: 90% CIs; open > : not reached, or a bound beyond the largest tested d (drawn one "
                           "step past it)",
                           fontsize=8)
    used = [f for f in FAMILIES if any(r["family"] == f for r in rows)]
    marks = [Line2D([], [], color="#333333", marker="s", lw=2.0), Line2D([], [], color="#333333", marker="o", lw=1.0,
                                                                       alpha=0.6, ms=4.5)]
    fig.legend([Line2D([], [], color=COLOURS[f], marker="o", lw=0) for f in used] + marks, used + ["d50", "d_int90"],
               fontsize=8, loc="lower center", ncol=len(used) + 2, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return fig
