"""Adaptive d_int search: double d until the threshold is met, then bisect on a log scale.

Each probe runs every seed at one d through ``run_sweep`` (so finished trials in the store are
reused and a killed search resumes). Assumes performance grows with d, as in Li et al. 2018.
``on="dint90"`` bisects on the mean normalised performance reaching ``threshold`` (d_int90);
``on="d50"`` on the fraction of seeds that reach ``threshold`` × the baseline reaching 1/2 (the
success dimension), which the same seeds place more closely (an extreme quantile of the seeds'
success curve needs more of them than its median).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from rlsub.analysis.dint import compute_dint
from rlsub.errors import ConfigError
from rlsub.results.store import Store
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec


@dataclass
class AdaptiveResult:
    """Outcome of an adaptive search for one (env, method, projection)."""

    env: str
    method: str
    projection: str
    dint: int | None
    """The smallest d probed whose statistic reaches its target (None: not reached)."""
    probes: list[tuple[int, float]] = field(default_factory=list)
    """(d, statistic) in the order probed: mean normalised performance, or (``on="d50"``) the fraction
    of seeds reaching ``threshold`` × the baseline."""
    trials_run: int = 0
    trials_reused: int = 0
    grid_trials: int = 0
    """Trials a log grid at the same resolution over the same range would need."""
    on: str = "dint90"
    """The statistic searched: ``dint90`` (mean reaches the threshold) or ``d50`` (half the seeds reach it)."""

    @property
    def saved(self) -> int:
        return self.grid_trials - (self.trials_run + self.trials_reused)


def grid_size(d_min: int, d_max: int, resolution: float) -> int:
    """Points of a log grid from d_min to d_max with consecutive ratio (1 + resolution)."""
    pts, d = {d_min}, float(d_min)
    while d < d_max:
        d *= 1 + resolution
        pts.add(min(d_max, max(int(round(d)), max(pts) + 1)))
    return len(pts)


def adaptive_search(
    spec: SweepSpec,
    out_dir,
    d_min: int = 1,
    d_max: int | None = None,
    resolution: float = 0.1,
    threshold: float = 0.9,
    workers: int | None = None,
    progress: bool = False,
    probe=None,
    on: str = "dint90",
) -> list[AdaptiveResult]:
    """Find d_int (``on="dint90"``) or d50 (``on="d50"``) per (env, method, projection) of ``spec``
    with as few trials as possible.

    ``spec.dims`` is ignored except for ``None`` ('full'), which runs the full-space baseline first
    so normalisation uses a measured R_base. ``probe(spec_at_d) -> counts`` can replace
    ``run_sweep`` (used by tests to simulate a performance curve).
    """
    if "auto" in spec.projections:
        raise ConfigError("--adaptive needs a concrete --projection (dense, sparse or fastfood), not auto")
    if resolution <= 0:
        raise ConfigError(f"--resolution must be > 0, got {resolution}")
    if d_min < 1:
        raise ConfigError(f"adaptive search needs d_min >= 1, got {d_min}")
    if on not in ("dint90", "d50"):
        raise ConfigError(f"adaptive search: on must be dint90 or d50, got {on!r}")
    run = probe or (lambda s: run_sweep(s, out_dir, workers=workers, progress=progress))
    results = []
    for env in spec.envs:
        for method in spec.methods:
            for hidden in spec.widths():
                one = replace(spec, envs=[env], methods=[method], hidden=hidden)
                if None in spec.dims:
                    run(replace(one, dims=[None]))
                for proj in spec.projections or ["dense"]:  # auto needs the largest d, unknown here
                    results.append(_search(replace(one, projections=[proj]), out_dir, run, d_min, d_max, resolution,
                                           threshold, on))
    return results


def _search(spec, out_dir, run, d_min, d_max, resolution, threshold, on="dint90") -> AdaptiveResult:
    env, method, proj = spec.envs[0], spec.methods[0], spec.projections[0]
    res = AdaptiveResult(env, method, proj, None, on=on)
    target = threshold if on == "dint90" else 0.5
    perf: dict[int, float] = {}

    def probe(d: int) -> float:
        at_d = replace(spec, dims=[d])
        counts = run(at_d)
        res.trials_run += counts["done"] + counts["failed"]
        res.trials_reused += counts["skipped"]
        fingerprint = plan_sweep(at_d).trials[0].fingerprint()  # only this experiment's trials, never others in the store
        with Store(out_dir) as store:
            groups = compute_dint(
                [r for r in store.rows() if r.fingerprint == fingerprint and (r.is_full or r.projection == proj)],
                threshold=threshold, n_boot=1,
            )
        value = (lambda s: s.mean) if on == "dint90" else (lambda s: s.p_reach)
        stats = {s.d: value(s) for g in groups for s in g.dims if value(s) is not None}
        perf[d] = stats.get(d, float("-inf"))
        res.probes.append((d, perf[d]))
        return perf[d]

    lo, hi, d = None, None, d_min
    while True:
        if probe(d) >= target:
            hi = d
            break
        lo = d
        if d_max is not None and d >= d_max:
            break
        d = min(2 * d, d_max) if d_max is not None else 2 * d
    if hi is None:
        res.grid_trials = grid_size(d_min, lo, resolution) * len(spec.seeds)
        return res
    while lo is not None and hi > lo + 1 and hi / lo > 1 + resolution:
        mid = int(round(math.sqrt(lo * hi)))
        mid = min(max(mid, lo + 1), hi - 1)
        if probe(mid) >= target:
            hi = mid
        else:
            lo = mid
    res.dint = hi
    res.grid_trials = grid_size(d_min, max(d for d, _ in res.probes), resolution) * len(spec.seeds)
    return res


def format_adaptive(results: list[AdaptiveResult], threshold: float = 0.9) -> str:
    out = []
    for r in results:
        pct = int(round(threshold * 100))
        dint = r.dint if r.dint is not None else "not reached"
        if r.on == "d50":
            out.append(f"{r.env} | {r.method} | {r.projection}: adaptive d50 = {dint} (the smallest d probed where "
                       f"half the seeds reach {pct}% of the baseline)")
            out.append("  probes (d: fraction of seeds reaching): " + ", ".join(f"{d}: {p:.2f}" for d, p in r.probes))
        else:
            out.append(f"{r.env} | {r.method} | {r.projection}: adaptive d_int{pct} = {dint}")
            out.append("  probes (d: perf): " + ", ".join(f"{d}: {p:.3f}" for d, p in r.probes))
        out.append(f"  trials: {r.trials_run} run + {r.trials_reused} reused; an equal-resolution log grid "
                   f"needs {r.grid_trials} (saved {r.saved})")
    return "\n".join(out)
