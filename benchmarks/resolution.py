"""Resolution of rlsub's d_int statistics on simulated sweeps whose truth is known: coverage, width, power.

    nice -n 10 python benchmarks/resolution.py [--studies 100] [--seeds 5,10] [--workers 2] [--power 100]

Three tables, each at 5 and 10 seeds on the grid 1, 2, 4, ..., 64 (``rlsub.analysis.simulate``):

1. **d_int90**: coverage of the nominal 90% CI and median hi/lo over the studies whose truth lies in 4..32,
   OLD = the monotone estimate's CI (``estimate_dint(fit=False)``), NEW = what ``estimate_dint`` reports now
   (a fitted curve where calibrated, the monotone CI elsewhere), and which model NEW used how often.
2. **d50** (P(a seed reaches 90% of the baseline) = 1/2): OLD = the isotonic crossing's bootstrap CI
   (``reach_estimate``), NEW = the fitted curve's (``rlsub.analysis.success_fit.fit_d50``).
3. **Power** of the ratio test (``compare_estimates``): the fraction of pairs of simulated tasks, the same curve
   shifted 1x (no difference: the false-claim rate), 2x, 3x and 8x apart in d, called apart at 90%, on d50 and
   on d_int90 (NEW and OLD).

Models: ``MODELS`` (the calibration set: solve/fail with and without correlation across d, Gompertz, a step,
a low solve level, smooth ramps; truths uniform in ln d on 1.5..100 so ~10% lie beyond the grid) and
``HELD_OUT`` (not tuned on). A d50 below 1 counts as 1 (no subspace is smaller). Every study is seeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from multiprocessing import Pool

import numpy as np

from rlsub.analysis.estimator import compare_estimates, estimate_dint, reach_estimate
from rlsub.analysis.simulate import DIMS, HELD_OUT, MODELS, Model

N_BOOT = 1000


def one_study(args: tuple[Model, int, int]) -> dict:
    model, n, k = args
    rng = np.random.default_rng([11, n, k, sum(map(ord, model.name))])
    perf, base, dint, d50 = model.draw_study(rng, n)
    d50 = max(d50, 1.0)
    est = estimate_dint(perf, DIMS, baseline=base, n_boot=N_BOOT, seed=k)
    reach = reach_estimate(perf, DIMS, baseline=base, n_boot=N_BOOT, seed=k)
    return {"dint": dint, "d50": d50, "old": est.monotone[1], "new": est.ci, "model": est.model,
            "old50": reach.ci, "new50": est.d50_ci}


def _cell(rows: list[dict], key: str, truth: str) -> tuple[float, float]:
    hit = [r[key][0] <= r[truth] <= r[key][1] for r in rows]
    widths = [r[key][1] / r[key][0] for r in rows if 4 <= r[truth] <= 32 and r[key][0] > 0]
    return float(np.mean(hit)), float(np.median(widths)) if widths else math.nan


def _w(x: float) -> str:
    return "inf" if math.isinf(x) else "-" if math.isnan(x) else f"{x:.1f}"


def coverage_tables(models, seeds, studies, pool) -> list[str]:
    out_dint, out_50 = [], []
    head = " | ".join(f"{n} seeds: cov old, new; hi/lo old, new" for n in seeds)
    out_dint += [f"| d_int90 model | {head} | NEW used |", "|---|" + "---|" * (4 * len(seeds) + 1)]
    out_50 += [f"| d50 model | {head} |", "|---|" + "---|" * (4 * len(seeds))]
    for model in models:
        cd, c5, used = [], [], {}
        for n in seeds:
            rows = pool.map(one_study, [(model, n, k) for k in range(studies)], chunksize=4)
            (co, wo), (cn, wn) = _cell(rows, "old", "dint"), _cell(rows, "new", "dint")
            cd += [f"{co:.2f}", f"{cn:.2f}", _w(wo), _w(wn)]
            (co, wo), (cn, wn) = _cell(rows, "old50", "d50"), _cell(rows, "new50", "d50")
            c5 += [f"{co:.2f}", f"{cn:.2f}", _w(wo), _w(wn)]
            for r in rows:
                used[r["model"]] = used.get(r["model"], 0) + 1
        mix = ", ".join(f"{k} {v / sum(used.values()):.0%}" for k, v in sorted(used.items()))
        out_dint.append(f"| {model.name} | " + " | ".join(cd) + f" | {mix} |")
        out_50.append(f"| {model.name} | " + " | ".join(c5) + " |")
        print(out_dint[-1], out_50[-1], sep="\n", file=sys.stderr, flush=True)
    return out_dint + [""] + out_50


def one_pair(args: tuple[Model, int, float, int]) -> tuple[bool, bool, bool]:
    model, n, ratio, k = args
    centre = math.log(8.0)
    ests = []
    for side, shift in enumerate((-0.5, 0.5)):
        m = dataclasses.replace(model, log_truth=(centre + shift * math.log(ratio),) * 2, slope=(0.6, 0.6))
        rng = np.random.default_rng([13, n, k, side, int(ratio * 10), sum(map(ord, model.name))])
        perf, base, _, _ = m.draw_study(rng, n)
        ests.append(estimate_dint(perf, DIMS, baseline=base, n_boot=N_BOOT, seed=2 * k + side))
    a, b = ("A", ests[0]), ("B", ests[1])
    return (compare_estimates(a, b, seed=k, on="d50").distinguishable,
            compare_estimates(a, b, seed=k, on="dint").distinguishable,
            compare_estimates(("A", _old(ests[0])), ("B", _old(ests[1])), seed=k, on="dint").distinguishable)


def _old(e):
    """The estimate as the monotone fit alone gave it (its bootstrap replicates; no fitted curve)."""
    return estimate_dint(e.perf, e.dims, fit=False, n_boot=N_BOOT, seed=0)


def power_table(models, seeds, pairs, pool) -> list[str]:
    ratios = (1.0, 2.0, 3.0, 8.0)
    out = ["| power (called apart at 90%) | seeds | " + " | ".join(f"{r:g}x" for r in ratios) + " |",
           "|---|---|" + "---|" * len(ratios)]
    for model in models:
        for n in seeds:
            cells = {0: [], 1: [], 2: []}
            for r in ratios:
                res = np.array(pool.map(one_pair, [(model, n, r, k) for k in range(pairs)], chunksize=4))
                for i in range(3):
                    cells[i].append(f"{res[:, i].mean():.2f}")
            for i, name in enumerate(("d50 (new, default)", "d_int90 (`on=\"dint\"`: monotone, baseline uncertainty in)", "d_int90 (old, monotone)")):
                out.append(f"| {model.name}: {name} | {n} | " + " | ".join(cells[i]) + " |")
                print(out[-1], file=sys.stderr, flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=100)
    ap.add_argument("--seeds", default="5,10")
    ap.add_argument("--power", type=int, default=100, help="pairs of tasks per ratio (0: no power table)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--models", default="", help="comma-separated model names (default: all)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    models = [m for m in MODELS + HELD_OUT if not args.models or m.name in args.models.split(",")]
    t0 = time.perf_counter()
    print(f"nominal 90% CIs; {args.studies} studies per cell; grid {DIMS[0]}..{DIMS[-1]}; hi/lo: median over "
          "studies whose truth lies in 4..32 (inf: most upper bounds lie beyond the grid)")
    print(f"held out (not tuned on): {', '.join(m.name for m in HELD_OUT)}\n")
    with Pool(args.workers) as pool:
        print("\n".join(coverage_tables(models, seeds, args.studies, pool)), flush=True)
        if args.power:
            print(f"\nratio test: {args.power} pairs per cell, the same curve (slope 0.6 in ln d) placed ratio^(±1/2) "
                  "around d = 8; 1x is the false-claim rate (nominal <= 10%)\n")
            pm = [m for m in models if m.name in ("bimodal-logistic", "bimodal-logistic-rho0.7", "ramp-logistic")]
            print("\n".join(power_table(pm, seeds, args.power, pool)), flush=True)
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
