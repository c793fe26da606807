"""Learning curves from a store's ``curves`` table, grouped as ``compute_dint`` groups trials.

Each trial stores its curve as (env steps, mean, best) points: for direct search the mean and best
training return of each generation's population, for gradient methods their training episodes'
return, for supervised tasks the running training accuracy (and test accuracy). ``learning_curves``
reads them per experiment and projection, per d, one ``SeedCurve`` per seed, with the experiment's
full-space (baseline) curves and the reference score beside them; ``format_curves`` prints them as
text, ``plot_learning_curves`` draws them (``rlsub curves``, and the report's ``learning_curves.png``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rlsub.results.store import Store

#: Eight levels of a text sparkline, low to high.
_BLOCKS = "▁▂▃▄▅▆▇█"


@dataclass
class SeedCurve:
    seed: int
    steps: np.ndarray
    values: np.ndarray
    final: float | None
    """The trial's final evaluation (fresh episodes, or test accuracy)."""


@dataclass
class CurveGroup:
    """One experiment and projection: curves per d (``None``: the full-space baseline)."""

    env: str
    method: str
    projection: str
    network: str
    D: int
    kind: str
    fingerprint: str
    by_d: dict[int | None, list[SeedCurve]] = field(default_factory=dict)
    reference: float | None = None
    """The score the baseline is held to (the store's recorded reference, else the env's solved threshold)."""

    @property
    def title(self) -> str:
        return f"{self.env} | {self.method} | {self.projection} | {self.network} D={self.D}"

    @property
    def ylabel(self) -> str:
        return "running training accuracy" if self.kind == "supervised" else "training return"

    def dims(self) -> list[int | None]:
        """Tested d's in order, the baseline (None) last."""
        return sorted(d for d in self.by_d if d is not None) + ([None] if None in self.by_d else [])


def learning_curves(dirs: list[str | Path]) -> list[CurveGroup]:
    """Every finished trial's curve in the stores ``dirs``, grouped by experiment and projection."""
    groups: dict[tuple[str, str], CurveGroup] = {}
    full: dict[str, list[tuple[object, SeedCurve]]] = defaultdict(list)
    refs: dict[str, float] = {}  # the references stores recorded (an atlas row's), by experiment
    for d in dirs:
        with Store(d, create=False) as store:
            refs.update(store.references())
            for row in store.rows():
                pts = store.curve(row.key)
                curve = SeedCurve(row.seed, np.array([p[0] for p in pts], float),
                                  np.array([np.nan if p[1] is None else p[1] for p in pts], float), row.final_mean)
                if row.is_full:
                    full[row.fingerprint].append((row, curve))
                    continue
                g = groups.get((row.fingerprint, row.projection))
                if g is None:
                    g = groups[(row.fingerprint, row.projection)] = CurveGroup(
                        row.env, row.method, row.projection, row.network, row.D, row.kind, row.fingerprint,
                        reference=refs.get(row.fingerprint, row.solved))
                g.by_d.setdefault(row.d, []).append(curve)
    for fp, items in full.items():
        mine = [g for g in groups.values() if g.fingerprint == fp]
        if not mine:  # a baseline with no subspace trials yet: its own group
            row = items[0][0]
            mine = [groups.setdefault((fp, "identity"), CurveGroup(
                row.env, row.method, "full space only", row.network, row.D, row.kind, fp,
                reference=refs.get(fp, row.solved)))]
        for g in mine:
            g.by_d[None] = [c for _, c in items]
    return sorted(groups.values(), key=lambda g: (g.env, g.method, g.projection, g.D))


def median_curve(curves: list[SeedCurve], points: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seeds' curves on a common grid of env steps: (steps, median, min, max); each seed is held at
    its last value after it stopped (an early-stopped trial keeps its score)."""
    have = [c for c in curves if len(c.steps)]
    if not have:
        return (np.array([]),) * 4  # type: ignore[return-value]
    top = max(c.steps[-1] for c in have)
    grid = np.linspace(min(c.steps[0] for c in have), top, points)
    ys = np.array([np.interp(grid, c.steps, c.values) for c in have])
    return grid, np.nanmedian(ys, axis=0), np.nanmin(ys, axis=0), np.nanmax(ys, axis=0)


def sparkline(values: np.ndarray, lo: float, hi: float) -> str:
    """``values`` as block characters scaled between ``lo`` and ``hi``."""
    if not len(values):
        return ""
    span = hi - lo if hi > lo else 1.0
    idx = np.clip(((values - lo) / span * (len(_BLOCKS) - 1)).round(), 0, len(_BLOCKS) - 1)
    return "".join(" " if np.isnan(v) else _BLOCKS[int(i)] for v, i in zip(values, np.nan_to_num(idx)))


def format_curves(groups: list[CurveGroup], width: int = 40) -> str:
    """The curves as text: per d, the median over seeds as a sparkline (one scale per experiment), its
    start and end, the spread of the seeds' last values and their final evaluation."""
    if not groups:
        return "no learning curves in this store yet (it holds no finished trials)"
    out = []
    for g in groups:
        rows = {d: median_curve(g.by_d[d], width) for d in g.dims()}
        vals = [v for r in rows.values() for v in (r[2], r[3]) if len(v)]
        lo = float(np.nanmin(np.concatenate(vals))) if vals else 0.0
        hi = float(np.nanmax(np.concatenate(vals))) if vals else 1.0
        ref = f"; reference {g.reference:.4g}" if g.reference is not None else ""
        out.append(f"{g.title}")
        out.append(f"  {g.ylabel} against env steps, median over seeds, scale {lo:.4g} .. {hi:.4g}{ref}")
        for d, (steps, med, mn, mx) in rows.items():
            name = "full" if d is None else f"d={d}"
            seeds = g.by_d[d]
            finals = [c.final for c in seeds if c.final is not None]
            if not len(steps):
                out.append(f"  {name:>8}  (no curve points stored)  seeds {len(seeds)}")
                continue
            final = f"  final eval {np.mean(finals):.4g}" if finals else ""
            out.append(f"  {name:>8}  {sparkline(med, lo, hi):<{width}}  {med[0]:.4g} -> {med[-1]:.4g} "
                       f"[{mn[-1]:.4g}, {mx[-1]:.4g}] at {int(steps[-1]):,} steps, {len(seeds)} seeds{final}")
        if None in rows and len(rows[None][0]):
            _, med, _, _ = rows[None]
            k = max(1, len(med) // 4)
            rising = med[-1] - med[-k - 1] if len(med) > k else 0.0
            trend = "still rising at the end" if rising > 0.05 * max(hi - lo, 1e-12) else "flat at the end"
            out.append(f"  baseline: {trend} (last quarter of its curve moved {rising:+.4g})")
        out.append("")
    out.append("Bracket: the seeds' range at the last point. A baseline still rising at the end wants a larger "
               "--budget before its 90% is a fair bar.")
    return "\n".join(out)


def plot_learning_curves(groups: list[CurveGroup], path: str | Path, max_panels: int = 12) -> Path:
    """One panel per experiment: each seed a thin line, one colour per d; the baseline's seeds in black,
    the reference as a dashed line. Returns the file written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    shown = groups[:max_panels]
    n = max(1, len(shown))
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.4 * ncols, 3.9 * nrows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.set_visible(False)
    if not shown:
        ax = axes.flat[0]
        ax.set_visible(True)
        ax.axis("off")
        ax.text(0.5, 0.5, "no learning curves stored yet", ha="center", va="center")
    cmap = plt.get_cmap("viridis")
    for ax, g in zip(axes.flat, shown):
        subs = [d for d in g.dims() if d is not None]
        for k, d in enumerate(g.dims()):
            color = "black" if d is None else cmap(k / max(1, len(subs) - 1) * 0.9)
            for i, c in enumerate(g.by_d[d]):
                ax.plot(c.steps, c.values, color=color, linewidth=1.4 if d is None else 0.8,
                        alpha=0.9 if d is None else 0.6,
                        label=(("full space (baseline)" if d is None else f"d = {d}") if i == 0 else None))
        if g.reference is not None:
            ax.axhline(g.reference, color="tab:red", linestyle="--", linewidth=1, label=f"reference {g.reference:.4g}")
        ax.set_title(f"{g.env} ({g.method}, {g.projection})\n{g.network}, D = {g.D:,}", fontsize=9)
        ax.set_xlabel("env steps" if g.kind != "supervised" else "training examples")
        ax.set_ylabel(g.ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    more = f" ({len(groups) - len(shown)} more experiment(s) not drawn)" if len(groups) > len(shown) else ""
    fig.suptitle("Learning curves: each seed a thin line, one colour per d; black: the full-space baseline; "
                 "red dashed: the reference score" + more, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["CurveGroup", "SeedCurve", "format_curves", "learning_curves", "median_curve", "plot_learning_curves",
           "sparkline"]
