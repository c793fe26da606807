"""Test helper: a store a researcher might report on, with valid and invalid groups and learning curves.

``demo_store(dir)`` writes synthetic trials (no training):

* CartPole-v1, CMA-ES at two widths: valid baselines (500 ≥ 475); d_int90 about 6 and 11 (the wide one
  tested up to d = 16 only, so its CI is open above).
* MountainCar-v0, CMA-ES: the baseline stays at -200 (the floor): not normalisable.
* Pusher-v5, CMA-ES: a measured random floor, Gymnasium's threshold 0.0 above every return; subspace
  runs beat the baseline (1.17x at every d): "baseline below reference".
* Acrobot-v1, ES: a baseline below its reference -100.
"""

from __future__ import annotations

import numpy as np
from tests_helpers import stored

from rlsub.results.store import Store


def _curve(final: float, start: float, steps: int = 20000, points: int = 12, rng=None) -> list[tuple]:
    xs = np.linspace(steps / points, steps, points)
    ys = start + (final - start) * (1 - np.exp(-4 * xs / steps))
    if rng is not None:
        ys = ys + rng.normal(0, abs(final - start) * 0.04 + 1e-3, points)
    return [(int(x), float(y), float(y)) for x, y in zip(xs, ys)]


def _group(store, *, env, fp, D, dims, perf, seeds, low, best, solved, full, network="MLP 64-64", method="cmaes",
           low_source=None, hidden=None, rng) -> None:
    extra = dict(env=env, fingerprint=fp, D=D, network=network, method=method, r_low=low, r_best=best, solved=solved,
                 config={"env": env, "method": method, "hidden": hidden})
    if low_source:
        extra.update(r_low_source=low_source, r_best=None, r_best_source="none registered")
    for s in range(seeds):
        if full is not None:
            value = full + (rng.normal(0, abs(full - low) * 0.02) if full != low else 0.0)
            store.add(f"{fp}-full-{s}", **stored(d=D, seed=s, is_full=True, projection="identity",
                                                 final_returns=[float(value)], curve=_curve(value, low, rng=rng), **extra))
        for d in dims:
            p = perf(d) + rng.normal(0, 0.04)
            value = low + p * ((full if full is not None else best) - low) + (rng.normal(0, 5) if full == low else 0)
            store.add(f"{fp}-{d}-{s}", **stored(d=d, seed=s, final_returns=[float(value)],
                                                curve=_curve(value, low, rng=rng), **extra))


def demo_store(path) -> None:
    rng = np.random.default_rng(0)
    with Store(path) as st:
        _group(st, env="CartPole-v1", fp="cp-narrow", D=4610, dims=[1, 2, 4, 8, 16, 32], seeds=5, low=0.0, best=500.0,
               solved=475.0, full=500.0, perf=lambda d: min(1.0, 0.15 + 0.8 * np.log2(d) / np.log2(8)) if d < 8 else 1.0,
               hidden=[64, 64], rng=rng)
        _group(st, env="CartPole-v1", fp="cp-wide", D=17410, dims=[1, 2, 4, 8, 16], seeds=5, low=0.0, best=500.0,
               solved=475.0, full=500.0, network="MLP 128-128", perf=lambda d: 0.2 + 0.72 * np.log2(d) / 4,
               hidden=[128, 128], rng=rng)
        _group(st, env="MountainCar-v0", fp="mc", D=4739, dims=[1, 2, 4, 8], seeds=3, low=-200.0, best=-110.0,
               solved=-110.0, full=-200.0, perf=lambda d: 0.0, rng=rng)
        _group(st, env="Pusher-v5", fp="pu", D=6215, dims=[2, 4, 8, 16], seeds=3, low=-150.0, best=0.0, solved=0.0,
               full=-60.0, perf=lambda d: 1.17, low_source="measured: random policy", rng=rng)
        _group(st, env="Acrobot-v1", fp="ac", D=4611, dims=[1, 2, 4, 8], seeds=3, low=-500.0, best=-60.0,
               solved=-100.0, full=-180.0, method="es", perf=lambda d: min(1.0, 0.3 * d), rng=rng)
