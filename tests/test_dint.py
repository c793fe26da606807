"""d_int90 and its bootstrap CI on synthetic data with known answers."""

import numpy as np
import pytest

from rlsub.dint import bootstrap_dint, compute_dint, smallest_passing
from rlsub.store import TrialRow
from tests_helpers import stored


def row(d, mean, seed, full=False, env="CartPole-v1", method="cmaes", fingerprint="fp", **kw):
    fields = stored(env=env, method=method, projection="identity" if full else "dense", d=d, is_full=full, D=4610,
                    seed=seed, fingerprint=fingerprint, **kw)
    for k in ("final_returns", "env_steps", "wall_time"):
        fields.pop(k)
    return TrialRow(key=f"{env}{method}{d}{seed}{full}{fingerprint}", final_mean=mean, final_std=0.0,
                    final_returns=[mean], env_steps=1, wall_time=0.0, artifact=None, info={}, error=None, **fields)


def test_smallest_passing():
    assert smallest_passing([1, 2, 4], np.array([0.1, 0.95, 0.5]), 0.9) == 2
    assert smallest_passing([1, 2], np.array([0.1, 0.2]), 0.9) is None


def test_dint_with_preset_baseline():
    rows = [row(d, m, s) for d, ms in {1: [20, 30], 2: [200, 300], 4: [460, 470], 8: [500, 500]}.items()
            for s, m in enumerate(ms)]
    (r,) = compute_dint(rows, threshold=0.9)
    assert r.baseline.source.startswith("registered") and r.baseline.value == 500
    assert r.dint == 4 and r.dint100 == 8
    assert [s.mean for s in r.dims] == pytest.approx([0.05, 0.5, 0.93, 1.0])
    assert r.dims[2].solved == 0 and r.dims[3].solved == 2
    assert r.compression == pytest.approx(4610 / 4)


def test_measured_baseline_beats_preset_and_given_beats_both():
    rows = [row(4, 400, 0), row(4, 400, 1), row(None or 4610, 420, 0, full=True), row(4610, 440, 1, full=True)]
    (r,) = compute_dint(rows)
    assert r.baseline.source == "measured" and r.baseline.value == 430 and r.baseline.seeds == 2
    assert r.dint == 4  # 400 / 430 = 0.93
    (g,) = compute_dint(rows, baseline=500)
    assert g.baseline.source.startswith("given") and g.dint is None


def test_bootstrap_ci_known_answer():
    rng = np.random.default_rng(0)
    ds = [1, 2, 4, 8, 16]
    # d=4 sits right at the threshold (mean 0.9, wide spread); d=8 is safely above, d=2 safely below.
    per_d = [rng.normal(0.1, 0.01, 50), rng.normal(0.5, 0.01, 50), np.r_[np.full(25, 0.8), np.full(25, 1.0)],
             rng.normal(0.99, 0.01, 50), rng.normal(1.0, 0.01, 50)]
    (lo, hi), boot = bootstrap_dint(per_d, ds, 0.9, n_boot=4000)
    assert (lo, hi) == (4, 8)
    assert boot.shape == (4000, 5)
    certain = [np.full(5, 0.2), np.full(5, 0.95)]
    assert bootstrap_dint(certain, [3, 6], 0.9)[0] == (6, 6)
    never = [np.full(5, 0.2)]
    assert bootstrap_dint(never, [3], 0.9)[0] == (None, None)
