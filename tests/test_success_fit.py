"""rlsub.analysis.success_fit: d50 (the success dimension) and d_int90 from fitted curves, checked against known truths."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from rlsub.analysis.dint_fit import fit_dint
from rlsub.analysis.estimator import compare_estimates, estimate_dint
from rlsub.analysis.simulate import DIMS, HELD_OUT, MODELS, Model
from rlsub.analysis.success_fit import design_effect, fit_d50, snap_low, step_bracket, successes

LOGISTIC = next(m for m in MODELS if m.name == "bimodal-logistic")
SEEDED = next(m for m in MODELS if m.name == "bimodal-logistic-seeded")


def _study(model: Model, n: int, k: int, tag: int = 3):
    perf, base, dint, d50 = model.draw_study(np.random.default_rng([tag, n, k, sum(map(ord, model.name))]), n)
    return perf, base, dint, max(d50, 1.0)


# -- d50 on hand-made data -------------------------------------------------------------------------
def test_d50_lies_where_half_the_seeds_succeed_and_its_ci_brackets_it():
    # 0 of 6 reach 90% at d = 2, 1 at 4, 4 at 8, 6 at 16 and 32: half reach it between 4 and 8
    perf = np.full((6, 5), 0.2)
    perf[:1, 1:] = 0.97
    perf[:4, 2:] = 0.97
    perf[:, 3:] = 0.97
    fit = fit_d50(perf, [2, 4, 8, 16, 32])
    assert 4 < fit.d50 < 8
    assert fit.ci[0] < fit.d50 < fit.ci[1] and fit.ci[1] / fit.ci[0] < 6
    assert fit.p_success.tolist() == pytest.approx([0, 1 / 6, 4 / 6, 1, 1])
    assert set(fit.shapes) == {"logistic", "gompertz"}  # the CI is their union
    assert fit.ci[0] <= min(lo for lo, _ in fit.shapes.values()) + 1e-9


def test_d50_beyond_the_grid_and_below_it():
    never = np.full((5, 4), 0.1)
    assert math.isinf(fit_d50(never, [1, 2, 4, 8]).d50) and math.isinf(fit_d50(never, [1, 2, 4, 8]).ci[1])
    always = np.full((5, 4), 1.0)
    fit = fit_d50(always, [1, 2, 4, 8])
    assert fit.d50 == 1.0 and fit.ci[0] == 1.0 and fit.ci[1] < 2  # at or below the smallest subspace


def test_a_step_between_two_dims_spans_that_step():
    """0 of 10 at d = 8, 10 of 10 at 16: nothing tells where in (8, 16] the crossing lies."""
    perf = np.tile([0.1, 0.1, 0.1, 0.1, 1.0, 1.0, 1.0], (10, 1))
    fit = fit_d50(perf, DIMS)
    assert fit.ci[0] <= 8 and fit.ci[1] >= 16
    assert step_bracket(np.array([0.0, 0.1, 0.9, 1.0]), np.log([1.0, 2, 4, 8]), 1.0, 1.2) == (math.log(2), math.log(4))


def test_a_lower_bound_within_half_a_step_of_the_smallest_d_is_that_d():
    logd = np.log([4.0, 8, 16])
    assert snap_low(math.log(5), logd) == math.log(4)  # within half a step (below 4·√2): the smallest d
    assert snap_low(math.log(6), logd) == math.log(6)  # past half a step: left where it is
    assert snap_low(math.log(2), logd) == math.log(2)  # below the grid: never moved up
    # on data: 0 of 6 reach 90% at d = 2, 5 at 4 and 8, all at 16; the shapes' lower bounds lie just above 2
    perf = np.full((6, 4), 0.2)
    perf[:5, 1:] = 0.97
    perf[:, 3] = 0.97
    fit = fit_d50(perf, [2, 4, 8, 16])
    lo = min(a for a, _ in fit.shapes.values())
    assert 2 < lo < 2 * math.sqrt(2) and fit.ci[0] == 2.0


def test_missing_trials_and_nan_columns():
    perf = np.full((5, 5), 0.1)
    perf[:, 3:] = 0.98
    perf[0, 4] = np.nan
    a = fit_d50(perf, [1, 2, 4, 8, 16])
    perf[:, 1] = np.nan  # a d with no trial at all is left out
    b = fit_d50(perf, [1, 2, 4, 8, 16])
    assert 4 < a.d50 < 8 and 4 < b.d50 < 8
    assert np.isnan(successes(perf, 0.9)[0, 4])


# -- correlation of a seed across d ----------------------------------------------------------------
def test_design_effect_is_about_one_for_independent_outcomes_and_larger_for_correlated_seeds():
    def median_deff(model):
        return np.median([fit_d50(_study(model, 10, k)[0], DIMS).deff for k in range(12)])

    assert median_deff(LOGISTIC) < 1.3
    assert median_deff(SEEDED) > 1.5
    y = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 1.0]])
    assert design_effect(y, np.log([1.0, 2, 4, 8]), "logistic", math.log(3), 0.5) >= 1.0


# -- coverage and width against known truths (few studies: fast; the tables are benchmarks/resolution.py) --------
@pytest.mark.parametrize("model, n, studies, cover, width", [
    (LOGISTIC, 5, 30, 0.8, 4.5),                                           # solve/fail, independent across d
    (next(m for m in HELD_OUT if m.name == "bimodal-logistic-rho0.7"), 10, 30, 0.8, 4.0),  # held out: correlated
    (next(m for m in MODELS if m.name == "ramp-gompertz-noisy"), 10, 30, 0.8, 4.0),       # smooth, asymmetric
])
def test_d50_ci_covers_the_truth_and_is_narrow(model, n, studies, cover, width):
    hits, widths = 0, []
    for k in range(studies):
        perf, _, _, truth = _study(model, n, k)
        lo, hi = fit_d50(perf, DIMS).ci
        hits += lo <= truth <= hi
        if 4 <= truth <= 32:
            widths.append(hi / lo)
    assert hits / studies >= cover
    assert np.median(widths) <= width


def test_fitted_dint90_covers_smooth_ramps_and_is_narrower_than_the_monotone_ci():
    model = next(m for m in HELD_OUT if m.name == "ramp-logistic-quiet")
    hits, new, old = 0, [], []
    for k in range(20):
        perf, base, truth, _ = _study(model, 5, k)
        est = estimate_dint(perf, DIMS, baseline=base, n_boot=500, seed=k)
        assert est.model in ("smooth", "monotone") and est.model_why
        hits += est.ci[0] <= truth <= est.ci[1]
        if 4 <= truth <= 32:
            new.append(est.ci[1] / est.ci[0])
            old.append(est.monotone[1][1] / est.monotone[1][0])
    assert hits >= 16
    assert np.median(new) < np.median(old) and np.median(new) <= 3.0


def test_fitted_dint90_covers_solve_fail_outcomes():
    model = next(m for m in MODELS if m.name == "bimodal-gompertz")  # asymmetric: the union of shapes matters
    hits, used = 0, set()
    for k in range(20):
        perf, base, truth, _ = _study(model, 10, k)
        est = estimate_dint(perf, DIMS, baseline=base, n_boot=300, seed=k)
        used.add(est.model)
        hits += est.ci[0] <= truth <= est.ci[1]
    assert hits >= 16 and "mixture" in used


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS + HELD_OUT, ids=lambda m: m.name)
def test_d50_coverage_large(model):
    hits = 0
    for k in range(100):
        perf, _, _, truth = _study(model, 5, k, tag=5)
        lo, hi = fit_d50(perf, DIMS).ci
        hits += lo <= truth <= hi
    assert hits >= 75


# -- the estimate carries both; the ratio test uses d50 --------------------------------------------
def test_estimate_carries_d50_model_and_monotone():
    perf, base, _, _ = _study(LOGISTIC, 5, 1)
    est = estimate_dint(perf, DIMS, baseline=base, n_boot=300)
    assert est.d50_ci[0] <= est.d50 <= est.d50_ci[1] and est.d50_log is not None
    assert est.model in ("mixture", "smooth", "monotone") and est.model_why
    assert est.monotone is not None and est.perf.shape == perf.shape
    assert "d50 =" in est.describe()
    plain = estimate_dint(perf, DIMS, baseline=base, n_boot=300, fit=False)
    assert math.isnan(plain.d50) and plain.model == "monotone" and (plain.estimate, plain.ci) == est.monotone[:2]


def test_ratio_test_uses_d50_by_default_and_dint_on_request():
    def est(centre, k):
        m = Model("pair", "logistic", True, log_truth=(math.log(centre),) * 2, slope=(0.5, 0.5))
        perf, base, _, _ = m.draw_study(np.random.default_rng([9, k, int(centre)]), 10)
        return estimate_dint(perf, DIMS, baseline=base, n_boot=300, seed=k)

    apart = [compare_estimates(("A", est(2.0, k)), ("B", est(16.0, k)), seed=k) for k in range(4)]
    assert all(t.on == "d50" and "d50(B)/d50(A)" in t.sentence for t in apart if t.distinguishable)
    assert sum(t.distinguishable for t in apart) >= 3
    t = compare_estimates(("A", est(2.0, 0)), ("B", est(16.0, 0)), on="dint")
    assert t.on == "d_int90" and "d_int90" in t.sentence
    with pytest.raises(ValueError):
        compare_estimates(("A", est(2.0, 0)), ("B", est(16.0, 0)), on="median")


def test_fit_dint_needs_three_dims_and_two_seeds():
    assert fit_dint(np.array([[0.1, 0.9], [0.2, 1.0]]), [1, 2]) is None
    assert fit_dint(np.array([[0.1, 0.5, 1.0]]), [1, 2, 4]) is None


def test_rlsub_estimate_dint_is_lazy():
    code = ("import sys, rlsub; assert 'rlsub.analysis.success_fit' not in sys.modules; "
            "from rlsub import estimate_dint; import rlsub.analysis.estimator as e; assert estimate_dint is e.estimate_dint; "
            "print(sorted(m for m in ('scipy', 'torch') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
