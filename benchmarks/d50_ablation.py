"""Ablation of the widening layers of the d50 CI (``rlsub.analysis.success_fit.fit_d50``) on the resolution study.

    nice -n 15 python benchmarks/d50_ablation.py [--studies 80] [--seeds 5,10] [--workers 1] [--variants a,b]

For each variant: coverage of the nominal 90% d50 CI against the true d50 and the median hi/lo over the studies
whose truth lies in 4..32 (``benchmarks/resolution.py``'s ``_cell``; a d50 below 1 counts as 1), on every model
in ``MODELS`` and ``HELD_OUT`` at 5 and 10 seeds, with the same study seeding as ``benchmarks/resolution.py``
(so ``current`` reproduces its d50 NEW column). One markdown table per variant, then a summary.

Variants are made without touching the library: the posterior of each shape is computed by ``fit_d50`` itself
with module attributes of ``rlsub.analysis.success_fit`` monkeypatched (``DEFF_GAIN``; ``curve_posterior`` with
``plateau=False``; ``baseline=None``), and ``_success_fit`` is swapped for a function that captures the
posteriors; the interval is then built from them by the library's ``_success_fit`` (with ``step_bracket`` /
``snap_low`` patched to no-ops where a variant drops them) or, for ``mix``, by the likelihood-weighted mixture
of the two shapes' marginals in place of their union. Each distinct posterior configuration is computed once per
study and shared by every variant built on it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import math
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool

import numpy as np

import rlsub.analysis.success_fit as sf
from rlsub.analysis.simulate import DIMS, HELD_OUT, MODELS, Model


@dataclass(frozen=True)
class Post:
    """How the shapes' posteriors are computed (the library's default: gain 1, plateaus, baseline uncertainty)."""

    gain: float = 1.0
    plateau: bool = True
    baseline: bool = True
    prior0: float | None = None
    """Prior weight of (g, h) = (0, 1) (the rest rescaled in proportion); None: ``ASYMPTOTE_PRIOR`` as it is."""


@dataclass(frozen=True)
class Variant:
    post: Post = Post()
    combine: str = "union"  # or "mix": the likelihood-weighted mixture of the shapes' posteriors
    step: bool = True
    snap: bool = True
    """``snap_low``: a lower bound within half a grid step above the smallest tested d is that d."""
    level: float = 0.9
    jump: float | None = None
    """``JUMP`` for ``step_bracket`` (None: the library's)."""


VARIANTS: dict[str, Variant] = {
    "current": Variant(),
    "no_deff": Variant(Post(gain=0.0)),
    "no_plateau": Variant(Post(plateau=False)),
    "no_snap": Variant(snap=False),
    "no_step": Variant(step=False),
    "mix_shapes": Variant(combine="mix"),
    "no_baseline_unc": Variant(Post(baseline=False)),
    "level0.85": Variant(level=0.85),
    "level0.80": Variant(level=0.80),
    # combinations, from the single ablations and a pilot on the hard cells (prior0 = 0.35 and jump = 0.8 were
    # tried there too and moved nothing): mix and a halved DEFF_GAIN narrow
    "gain0.5": Variant(Post(gain=0.5)),
    "gain0.5+mix": Variant(Post(gain=0.5), combine="mix"),
}


@contextlib.contextmanager
def patched(**attrs):
    """Set module attributes of ``rlsub.analysis.success_fit`` for the block, then restore them."""
    old = {k: getattr(sf, k) for k in attrs}
    try:
        for k, v in attrs.items():
            setattr(sf, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(sf, k, v)


def _capture(posts, logd, level, reach, y, rng):
    return posts, logd, reach, y, rng


def posteriors(post: Post, perf, base, k):
    """``fit_d50``'s own posteriors of each shape under ``post`` (and what ``_success_fit`` is given with them)."""
    attrs = dict(DEFF_GAIN=post.gain, _success_fit=_capture)
    if not post.plateau:
        attrs["curve_posterior"] = functools.partial(sf.curve_posterior, plateau=False)
    if post.prior0 is not None:
        pr = sf.ASYMPTOTE_PRIOR.copy()
        pr[1:] *= (1 - post.prior0) / pr[1:].sum()
        pr[0] = post.prior0
        attrs["ASYMPTOTE_PRIOR"] = pr
    with patched(**attrs):
        return sf.fit_d50(perf, DIMS, 0.9, 0.9, k, base if post.baseline else None)


def _mix_fit(posts, logd, level, reach, y, rng):
    """The mixture of the shapes' posteriors, weighted by their evidence, in place of the union of their intervals."""
    ev = np.array([p.log_evidence for p in posts.values()])
    wts = np.exp(ev - ev.max())
    mixed = sum(w * p.marginal_c() for w, p in zip(wts, posts.values()))
    c = next(iter(posts.values())).c
    lo, hi = sf._quantiles(c, mixed, [(1 - level) / 2, (1 + level) / 2])
    frac = np.nanmean(y, axis=0)
    lo, hi = sf.step_bracket(frac, logd, lo, hi)
    return sf.lower_bound(sf.snap_low(lo, logd), logd), sf.to_d(hi, logd)


def _no_step(frac, logd, lo, hi, target=0.5):
    return lo, hi


def _no_snap(lo, logd):
    return lo


def interval(v: Variant, captured) -> tuple[float, float]:
    posts, logd, reach, y, rng = captured
    attrs = {}
    if not v.step:
        attrs["step_bracket"] = _no_step
    if not v.snap:
        attrs["snap_low"] = _no_snap
    if v.jump is not None:
        attrs["JUMP"] = v.jump
    with patched(**attrs):
        if v.combine == "mix":
            lo, hi = _mix_fit(posts, logd, v.level, reach, y, rng)
        else:
            lo, hi = sf._success_fit(posts, logd, v.level, reach, y, rng).ci
    return lo, hi


def one_study(args: tuple[Model, int, int, tuple[str, ...]]) -> dict:
    model, n, k, names = args
    rng = np.random.default_rng([11, n, k, sum(map(ord, model.name))])  # benchmarks/resolution.py's seeding
    perf, base, _, d50 = model.draw_study(rng, n)
    out = {"d50": max(d50, 1.0)}
    cache = {}
    for name in names:
        v = VARIANTS[name]
        if v.post not in cache:
            cache[v.post] = posteriors(v.post, perf, base, k)
        out[name] = interval(v, cache[v.post])
    return out


def _cell(rows: list[dict], key: str, truth: str = "d50") -> tuple[float, float]:
    hit = [r[key][0] <= r[truth] <= r[key][1] for r in rows]
    widths = [r[key][1] / r[key][0] for r in rows if 4 <= r[truth] <= 32 and r[key][0] > 0]
    return float(np.mean(hit)), float(np.median(widths)) if widths else math.nan


def _w(x: float) -> str:
    return "inf" if math.isinf(x) else "-" if math.isnan(x) else f"{x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=80)
    ap.add_argument("--seeds", default="5,10")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--variants", default="", help="comma-separated variant names (default: all)")
    ap.add_argument("--models", default="", help="comma-separated model names (default: all)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = tuple(n for n in VARIANTS if not args.variants or n in args.variants.split(","))
    models = [m for m in MODELS + HELD_OUT if not args.models or m.name in args.models.split(",")]
    held = {m.name for m in HELD_OUT}
    t0 = time.perf_counter()
    print(f"$ nice -n 15 python {' '.join(sys.argv)}   ({datetime.datetime.now():%Y-%m-%d %H:%M})")
    print(f"d50: nominal 90% CIs; {args.studies} studies per cell (resolution.py's seeding); grid {DIMS[0]}..{DIMS[-1]}; "
          "hi/lo: median over studies whose truth lies in 4..32; * = held out (not tuned on)\n")
    cells: dict[str, dict[tuple[str, int], tuple[float, float]]] = {v: {} for v in names}
    with Pool(args.workers) as pool:
        for model in models:
            for n in seeds:
                rows = pool.map(one_study, [(model, n, k, names) for k in range(args.studies)], chunksize=4)
                for v in names:
                    cells[v][model.name, n] = _cell(rows, v)
                print(f"{model.name} {n}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    label = {m.name: m.name + (" *" if m.name in held else "") for m in models}
    for v in names:
        print(f"### {v}: {VARIANTS[v]}\n")
        print("| model | " + " | ".join(f"{n} seeds: cov | hi/lo" for n in seeds) + " |")
        print("|---|" + "---|---|" * len(seeds))
        for m in models:
            print(f"| {label[m.name]} | " + " | ".join(f"{cells[v][m.name, n][0]:.2f} | {_w(cells[v][m.name, n][1])}"
                                                       for n in seeds) + " |")
        print()
    print("### summary (targets: coverage >= 0.86 in every cell; median hi/lo over cells <= 3.5 at 5 seeds, "
          "<= 2.5 at 10 seeds)\n")
    head = " | ".join(f"median hi/lo, {n} seeds | max hi/lo, {n} seeds | cells > {3.5 if n == 5 else 2.5}"
                      for n in seeds)
    print(f"| variant | min cov | which cell | held-out min cov | {head} |")
    print("|---|---|---|---|" + "---|---|---|" * len(seeds))
    for v in names:
        c = cells[v]
        worst = min(c, key=lambda key: c[key][0])
        hmin = min((c[key][0] for key in c if key[0] in held), default=math.nan)
        parts = []
        for n in seeds:
            ws = [c[m.name, n][1] for m in models]
            lim = 3.5 if n == 5 else 2.5
            parts += [_w(float(np.median(ws))), _w(max(ws)), str(sum(w > lim for w in ws))]
        print(f"| {v} | {c[worst][0]:.2f} | {label[worst[0]]}, {worst[1]} | {hmin:.2f} | " + " | ".join(parts) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
