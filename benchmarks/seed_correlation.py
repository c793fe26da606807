"""How correlated is one seed's outcome across d? Measured on the committed atlas stores, beside simulated references.

    python benchmarks/seed_correlation.py [--root .]

A seed fixes θ_0, the projection P and the evaluation episodes at every d, so its outcomes at different d need
not be independent. Per atlas experiment with a d grid, from the ``[seed, d]`` matrix ``rlsub dint`` computes:

* ``reversals``: seeds that reach 90% of the baseline at some d and fall short at a larger d, of the seeds that
  reach it somewhere (fully correlated seeds, one latent threshold each, never reverse);
* ``icc``: the within-seed correlation of success residuals, ``y[i, d] - p(d)`` with ``p(d)`` the fraction of
  seeds succeeding at d, pooled over pairs of dims where both fractions lie strictly between 0 and 1 (0:
  independent across d; 1: a seed that beats the fraction at one d beats it at every d);
* ``icc_perf``: the same for normalised performance (residual from the per-d mean);
* ``deff``: the design effect the d50 fit measured and tempered its likelihood by (``rlsub.analysis.success_fit``).

The same numbers on simulated sweeps (5 and 10 seeds, 100 studies, median) place the stores between the
calibration models: independent outcomes, a Gaussian-copula correlation of 0.7, and fully correlated seeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rlsub.analysis.dint import compute_dint
from rlsub.analysis.simulate import DIMS, Model
from rlsub.analysis.success_fit import fit_d50, successes
from rlsub.results.store import Store


def icc(values: np.ndarray) -> float:
    """Pooled within-seed correlation of residuals from the per-d mean, over pairs of dims (NaN: no usable pair)."""
    m = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(m)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(m, axis=0)
        var = np.nanvar(m, axis=0, ddof=1)
    r = np.where(ok, m - mean, 0.0)
    num = den = 0.0
    k = m.shape[1]
    for a in range(k):
        for b in range(a + 1, k):
            both = ok[:, a] & ok[:, b]
            if both.sum() < 3 or not (var[a] > 0 and var[b] > 0):
                continue
            num += float((r[both, a] * r[both, b]).sum()) / (both.sum() - 1)
            den += float(np.sqrt(var[a] * var[b]))
    return num / den if den > 0 else float("nan")


def reversals(y: np.ndarray) -> tuple[int, int]:
    """(seeds that succeed at some d and fail at a larger one, seeds that succeed somewhere)."""
    rev = hit = 0
    for row in y:
        seen = row[~np.isnan(row)]
        if seen.any():
            hit += 1
            first = int(np.argmax(seen == 1))
            rev += bool((seen[first:] == 0).any())
    return rev, hit


def measure(perf: np.ndarray, dims) -> dict:
    y = successes(perf, 0.9)
    rev, hit = reversals(y)
    return {"seeds": perf.shape[0], "reversals": f"{rev}/{hit}", "icc": icc(y), "icc_perf": icc(perf),
            "deff": fit_d50(perf, dims).deff}


def stores(root: Path) -> list[tuple[str, dict]]:
    out = []
    for path in sorted((root / "atlas" / "stores").glob("*/results.sqlite")):
        with Store(path.parent, create=False) as store:
            rows = list(store.rows())
        for r in compute_dint(rows):
            e = r.estimator
            if e is None or r.baseline_below_reference or e.perf is None or e.perf.shape[1] < 3:
                continue
            cols = e.seeds_per_d > 0
            out.append((f"{r.env} ({r.method}){' ' + r.label if r.label else ''}", measure(e.perf[:, cols], e.dims[cols])))
    return out


def simulated(n: int, studies: int = 100) -> list[tuple[str, dict]]:
    out = []
    for model in (Model("independent", "logistic", True), Model("rho 0.7", "logistic", True, rho=0.7),
                  Model("fully correlated", "logistic", True, seeded=True)):
        ms = [measure(model.draw(np.random.default_rng([17, n, k]), n)[0], DIMS) for k in range(studies)]
        rev = [tuple(map(int, m["reversals"].split("/"))) for m in ms]
        out.append((f"simulated {model.name}, {n} seeds (median of {studies})", {
            "seeds": n, "reversals": f"{sum(a for a, _ in rev) / max(sum(b for _, b in rev), 1):.0%}",
            **{k: float(np.nanmedian([m[k] for m in ms])) for k in ("icc", "icc_perf", "deff")}}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=".")
    args = ap.parse_args()
    print("| experiment | seeds | reversals | icc (success) | icc (perf) | deff (d50 fit) |")
    print("|---|---|---|---|---|---|")
    for name, m in stores(Path(args.root)) + simulated(5) + simulated(10):
        print(f"| {name} | {m['seeds']} | {m['reversals']} | {m['icc']:.2f} | {m['icc_perf']:.2f} | {m['deff']:.2f} |")


if __name__ == "__main__":
    main()
