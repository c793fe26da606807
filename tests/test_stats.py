"""rlsub.analysis.bootstraps: paired vs independent bootstrap of d_int, the comparison rule, success-probability crossing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlsub.analysis.bootstraps import independent_bootstrap_dint, paired_bootstrap_dint, success_crossing
from rlsub.analysis.perf_matrix import MIN_SEEDS

DIMS = 2 ** np.arange(0, 11)  # 1 … 1024


def plateau_curves(good: np.ndarray, noise: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Seeds whose curves are perfectly correlated across d: a ramp to d = 8, then a plateau from d = 8 to
    d = 128 at 1.0 ("good" seed, a lucky θ_0) or 0.8, then 1.0 for every seed from d = 256 on.

    The mean plateau is ``0.8 + 0.2·(fraction of good seeds)``: d_int90 is 8 when at least half the
    seeds are good, else 256. Which seeds are good moves the whole plateau at once.
    """
    perf = np.empty((len(good), len(DIMS)))
    for j, d in enumerate(DIMS):
        if d < 8:
            perf[:, j] = 0.7 * math.log2(d) / 3.0
        elif d <= 128:
            perf[:, j] = np.where(good, 1.0, 0.8)
        else:
            perf[:, j] = 1.0
    if noise:
        perf += rng.normal(0.0, noise, perf.shape)
    return perf


# -- 1. paired bootstrap -------------------------------------------------------------------------
def test_paired_bootstrap_known_answer():
    # Every seed fails at d <= 8 and passes from d = 16: no resampling can move d_int.
    rng = np.random.default_rng(0)
    perf = np.where(DIMS[None, :] >= 16, 0.97, 0.4) + rng.normal(0, 0.01, (6, len(DIMS)))
    r = paired_bootstrap_dint(perf, DIMS, n_boot=500)
    assert r.dint == 16 and r.ci == (16, 16)
    assert r.method == "paired" and r.n_seeds == 6 and not r.few_seeds and r.notes == []
    assert r.boot_means.shape == (500, len(DIMS)) and r.boot_dint.shape == (500,)
    assert r.means == pytest.approx(perf.mean(axis=0))
    # never reaching the threshold: point estimate and both bounds are "not reached"
    low = paired_bootstrap_dint(np.full((5, 3), 0.5), [2, 4, 8], n_boot=200)
    assert low.dint is None and low.ci == (None, None)
    assert "d_int90 = >8 [>8, >8]" in low.describe()


def test_paired_bootstrap_is_deterministic_and_sorts_dims():
    rng = np.random.default_rng(3)
    perf = rng.uniform(0.6, 1.0, (7, 5))
    a = paired_bootstrap_dint(perf, [1, 2, 4, 8, 16], seed=11)
    b = paired_bootstrap_dint(perf, [1, 2, 4, 8, 16], seed=11)
    assert a.ci == b.ci and np.array_equal(a.boot_dint, b.boot_dint)
    shuffled = paired_bootstrap_dint(perf[:, ::-1], [16, 8, 4, 2, 1], seed=11)
    assert shuffled.dint == a.dint and shuffled.ci == a.ci


def test_missing_values_are_averaged_over_available_seeds():
    perf = np.array([
        [0.1, 0.96, 1.0],
        [0.2, np.nan, 1.0],  # this seed has no trial at d = 4
        [0.1, 0.86, np.nan],
        [np.nan, np.nan, np.nan],  # a seed with nothing at all is dropped
    ])
    r = paired_bootstrap_dint(perf, [2, 4, 8], n_boot=400)
    assert r.n_seeds == 3
    assert r.seeds_per_d.tolist() == [3, 2, 2]
    assert r.means == pytest.approx([0.4 / 3, 0.91, 1.0])
    assert r.dint == 4  # (0.96 + 0.86) / 2 = 0.91, the seed without d = 4 does not count
    assert r.few_seeds and "fewer than 5 seeds" in r.notes[0]
    # replicate means skip the seeds without a value: at d = 8 every replicate is 1.0, except those that
    # drew only the third seed (no value there at all: NaN, which never passes)
    col = r.boot_means[:, 2]
    assert np.all((col == 1.0) | np.isnan(col)) and 0 < np.isnan(col).sum() < 40


def test_few_seed_flag_threshold():
    perf = np.full((MIN_SEEDS, 2), 0.95)
    assert not paired_bootstrap_dint(perf, [1, 2], n_boot=50).few_seeds
    assert paired_bootstrap_dint(perf[:-1], [1, 2], n_boot=50).few_seeds


def test_independent_bootstrap_is_overconfident_on_correlated_curves():
    # 6 of 10 seeds are good: the mean plateau is 0.92, so the point estimate is 8. A resample with
    # fewer than 5 good seeds (probability ~0.17) lowers the whole plateau below 0.9 and moves d_int
    # to 256; the paired CI must reach 256. Resampling each d on its own gives every plateau d an
    # independent ~83% chance to pass, so some d <= 128 nearly always passes: its CI stops far lower.
    perf = plateau_curves(np.array([True] * 6 + [False] * 4))
    paired = paired_bootstrap_dint(perf, DIMS, n_boot=4000, seed=1)
    indep = independent_bootstrap_dint(perf, DIMS, n_boot=4000, seed=1)
    assert paired.dint == indep.dint == 8
    assert paired.ci == (8, 256)
    assert indep.ci[0] == 8 and indep.ci[1] is not None and indep.ci[1] <= 32
    # Per-d marginals are the same resampling of the same values; only the joint differs.
    assert paired.boot_means[:, 5].mean() == pytest.approx(indep.boot_means[:, 5].mean(), abs=0.01)


def test_paired_bootstrap_covers_the_truth_where_independent_does_not():
    # Population: a seed is good with probability 0.4, so the population's mean plateau is 0.88 < 0.9
    # and its d_int90 is 256. Over many simulated 10-seed studies, the paired 90% CI contains 256 about
    # as often as it should; the independent one misses it in every study whose sample plateau
    # happens to reach 0.9 (~37% of them).
    covered = {"paired": 0, "independent": 0}
    n_studies = 200
    for k in range(n_studies):
        rng = np.random.default_rng(1000 + k)
        perf = plateau_curves(rng.random(10) < 0.4, noise=0.003, rng=rng)
        for name, fn in (("paired", paired_bootstrap_dint), ("independent", independent_bootstrap_dint)):
            lo, hi = fn(perf, DIMS, n_boot=1000, seed=k).ci
            covered[name] += (lo is not None and lo <= 256) and (hi is None or hi >= 256)
    assert covered["paired"] / n_studies >= 0.85
    assert covered["independent"] / n_studies <= 0.75


def test_input_validation():
    with pytest.raises(ValueError, match="columns"):
        paired_bootstrap_dint(np.zeros((3, 2)), [1, 2, 4])
    with pytest.raises(ValueError, match="distinct"):
        paired_bootstrap_dint(np.zeros((3, 2)), [2, 2])
    with pytest.raises(ValueError, match="matrix"):
        paired_bootstrap_dint(np.zeros(3), [1, 2, 3])


# -- 3. success probability ----------------------------------------------------------------------
def test_success_crossing_hand_computed():
    solved = np.array([
        [0, 0, 1, 1],
        [0, 1, 1, 1],
        [0, 0, 0, 1],
        [0, 0, 1, 1],
    ], dtype=bool)
    r = success_crossing(solved, [1, 2, 4, 8], n_boot=0)
    assert r.p_success.tolist() == [0.0, 0.25, 0.75, 1.0]
    # first d with p >= 1/2 is 4; previous tested d is 2 with p = 1/4:
    # log d* = log 2 + (0.5 - 0.25) / (0.75 - 0.25) · (log 4 - log 2)  →  d* = 2^1.5
    assert r.d_cross == pytest.approx(2 ** 1.5)
    assert r.bracket == (2, 4) and not r.at_lowest and r.ci is None
    assert r.few_seeds  # 4 seeds


def test_success_crossing_edges_and_bootstrap():
    # exactly 1/2 at a tested d → that d
    half = np.array([[0, 1], [0, 0]], dtype=bool)
    assert success_crossing(half, [3, 9], n_boot=0).d_cross == pytest.approx(9)
    # already solved at the smallest d → that d, flagged
    low = success_crossing(np.ones((5, 3), dtype=bool), [4, 8, 16], n_boot=100)
    assert low.d_cross == 4 and low.at_lowest and low.ci == (4.0, 4.0)
    # never reaching 1/2
    never = success_crossing(np.zeros((5, 3), dtype=bool), [4, 8, 16], n_boot=100)
    assert never.d_cross is None and never.bracket is None and never.ci == (None, None)
    # missing trials (NaN) do not count; non-monotone fractions use the first crossing
    solved = np.array([[0, 1, 0, 1], [0, 1, 0, 1], [0, 0, np.nan, 1], [0, 0, 0, 1]])
    r = success_crossing(solved, [1, 2, 4, 8], n_boot=0)
    assert r.d_cross == pytest.approx(2.0) and r.seeds_per_d.tolist() == [4, 4, 3, 4]
    # bootstrap CI brackets the point estimate and is deterministic in its seed
    rng = np.random.default_rng(5)
    many = (rng.random((20, 6)) < np.array([0.0, 0.1, 0.3, 0.6, 0.9, 1.0])).astype(float)
    a = success_crossing(many, [1, 2, 4, 8, 16, 32], n_boot=1000, seed=2)
    b = success_crossing(many, [1, 2, 4, 8, 16, 32], n_boot=1000, seed=2)
    assert a.ci == b.ci and a.ci[0] <= a.d_cross <= a.ci[1]
    with pytest.raises(ValueError, match="booleans"):
        success_crossing(np.full((2, 2), 0.5), [1, 2])
