"""d_int90 and its bootstrap CI on synthetic data with known answers."""

import numpy as np
import pytest
from tests_helpers import stored

from rlsub.analysis.dint import compute_dint, format_table, smallest_passing
from rlsub.analysis.estimator import estimate_dint
from rlsub.results.store import TrialRow


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
    # the monotone estimate interpolates the isotonic fit in ln d: 0.5 at d = 2, 0.93 at d = 4; the reported
    # estimate is a fitted curve's where one is calibrated, and says which
    assert r.estimator.monotone[0] == pytest.approx(2 * 2 ** ((0.9 - 0.5) / (0.93 - 0.5)))
    assert r.model in ("mixture", "smooth", "monotone") and r.model_why
    assert r.d50 is not None and r.d50_ci[0] <= r.d50 <= r.d50_ci[1]
    assert r.compression == pytest.approx(4610 / r.estimate)
    lo, hi = r.estimate_ci
    assert lo <= r.estimate <= (hi or float("inf")) and r.dint_ci == (int(lo), None if hi is None else int(hi))
    # d_int's own criterion (a seed reaching 90% of the baseline) vs the env's solved threshold (475)
    assert [s.p_reach for s in r.dims] == [0.0, 0.0, 1.0, 1.0]
    assert [s.p_success for s in r.dims] == [0.0, 0.0, 0.0, 1.0]
    assert r.reference == 475.0 and not r.baseline_below_reference


def test_measured_baseline_beats_preset_and_given_beats_both():
    rows = [row(4, 400, 0), row(4, 400, 1), row(None or 4610, 420, 0, full=True), row(4610, 440, 1, full=True)]
    (r,) = compute_dint(rows)
    assert r.baseline.source == "measured" and r.baseline.value == 430 and r.baseline.seeds == 2
    assert r.dint == 4  # 400 / 430 = 0.93
    (g,) = compute_dint(rows, baseline=500)
    assert g.baseline.source.startswith("given") and g.dint is None


def test_ci_is_the_estimate_over_whole_seed_curves_and_the_baseline_seeds():
    # Seeds 0-2 are "lucky" (pass from d=4), seeds 3-5 pass only at d=16: curves correlated across d.
    curves = {s: ({2: 100, 4: 480, 8: 490, 16: 500} if s < 3 else {2: 50, 4: 200, 8: 300, 16: 480}) for s in range(6)}
    rows = [row(d, m, s) for s, c in curves.items() for d, m in c.items()]
    rows += [row(4610, b, s, full=True) for s, b in enumerate([490, 500, 510, 495, 505, 500])]
    (r,) = compute_dint(rows, n_boot=1000)
    assert r.baseline.value == 500
    perf = np.array([[curves[s][d] / 500 for d in (2, 4, 8, 16)] for s in range(6)])
    base = np.array([490, 500, 510, 495, 505, 500]) / 500
    expected = estimate_dint(perf, [2, 4, 8, 16], 0.9, baseline=base, n_boot=1000)
    assert r.dint == expected.grid_dint == 16
    inf_to_none = tuple(None if np.isinf(v) else v for v in expected.ci)
    assert r.estimate == pytest.approx(expected.estimate) and r.estimate_ci == inf_to_none
    assert r.estimator.monotone[1] == (4.0, np.inf)  # the isotonic CI: open above
    assert [s.ci for s in r.dims] == [tuple(x) for x in expected.mean_ci]
    # Success view on the env's threshold: the fraction of seeds reaching 475 per d, crossing 1/2 at d=4.
    assert [s.p_success for s in r.dims] == [0.0, 0.5, 0.5, 1.0]
    assert r.success_d50 == pytest.approx(4.0)
    # ... and on d_int's own criterion (0.9 x the baseline = 450): the same fractions here
    assert [s.p_reach for s in r.dims] == [0.0, 0.5, 0.5, 1.0]
    assert r.reach_d50 is not None and 2 < r.reach_d50 <= 16


def test_baseline_noise_widens_the_ci():
    curves = {s: {2: 100, 4: 300, 8: 440 + 10 * s, 16: 480, 32: 495} for s in range(6)}
    rows = [row(d, m, s) for s, c in curves.items() for d, m in c.items()]

    def spread_of_estimate(spread):  # 90% range of the replicate crossings, in ln d
        full = [row(4610, 500 + spread * k, s, full=True) for s, k in enumerate([-1, 1, -1, 1, -1, 1])]
        (r,) = compute_dint(rows + full, n_boot=2000)
        assert r.baseline.value == 500 and r.estimate_ci is not None
        return np.diff(np.quantile(r.estimator.boot_log, [0.05, 0.95], method="inverted_cdf"))[0]  # inf: open above

    assert spread_of_estimate(60) > spread_of_estimate(1) + 0.1


def test_an_untrained_baseline_is_not_a_dint():
    # The baseline (mean 150) is below CartPole's reference score (475): 90% of it is no d_int.
    rows = [row(d, m, s) for d, m in {1: 40, 2: 100, 4: 140, 8: 150}.items() for s in range(5)]
    rows += [row(4610, 150, s, full=True) for s in range(5)]
    (r,) = compute_dint(rows, n_boot=200)
    assert r.baseline_below_reference and r.estimate is not None and r.compression is None
    assert r.notes[0].startswith("baseline below reference: not a d_int")
    d = r.to_dict()
    assert d["baseline_below_reference"] is True and d["verdict"] == "baseline below reference: not a d_int"
    assert d["compression"] is None
    # --json too: no d_int field carries a number; the would-be values sit apart, under "not_a_dint"
    assert d["estimate"] is None and d["estimate_ci"] is None and d["grid_dint"] is None and d["d50"] is None
    assert d["not_a_dint"]["estimate"] == r.estimate
    text = format_table([r])
    # no number printed as a d_int for it (issue 32): the verdict instead, and no compression
    assert "d_int90: none: baseline below reference: not a d_int" in text
    assert "d_int90 =" not in text and "compression" not in text
    (ok,) = compute_dint([row(d, m * 3.3, s) for d, m in {1: 40, 2: 100, 4: 140, 8: 150}.items() for s in range(5)]
                         + [row(4610, 495, s, full=True) for s in range(5)], n_boot=200)
    assert not ok.baseline_below_reference and ok.compression is not None
    assert "compression D/d" in format_table([ok])


def test_a_mean_exactly_at_the_threshold_passes():
    rows = [row(4, 475, 0), row(4, 425, 1)]  # (0.95 + 0.85) / 2 is 0.8999... in floating point
    (r,) = compute_dint(rows, n_boot=50)
    assert r.dint == 4


def test_few_seeds_are_flagged():
    (r,) = compute_dint([row(4, 480, 0), row(4, 490, 1)], n_boot=50)
    assert any("fewer than 5 seeds" in n for n in r.notes)


def test_an_under_trained_baseline_is_flagged():
    rows = [row(4, 300, s) for s in range(5)] + [row(4610, 150, s, full=True) for s in range(5)]
    (r,) = compute_dint(rows, n_boot=50)
    assert any("under-trained" in n for n in r.notes)
    (ok,) = compute_dint([row(4, 140, s) for s in range(5)] + [row(4610, 150, s, full=True) for s in range(5)], n_boot=50)
    assert not any("under-trained" in n for n in ok.notes)


def test_a_training_score_is_named_in_the_table():
    from rlsub.agents.dqn.single import TRAIN100_MEASURE

    rows = [row(d, m, s, measure=TRAIN100_MEASURE) for d, ms in {1: [20, 30], 2: [480, 490]}.items()
            for s, m in enumerate(ms)]
    text = format_table(compute_dint(rows))
    assert f"measure:  {TRAIN100_MEASURE}" in text
    assert "measure:" not in format_table(compute_dint([row(1, 20, 0), row(2, 480, 0)]))


def test_json_has_the_estimate_first_and_no_infinities():
    import json

    rows = [row(d, m, s) for d, ms in {1: [20, 30], 2: [200, 300], 4: [400, 420], 8: [440, 430]}.items()
            for s, m in enumerate(ms)]
    (r,) = compute_dint(rows, n_boot=300)
    assert r.estimate is None and r.dint is None  # never reaches 450: not reached, None in JSON (not inf)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["estimate"] is None and d["grid_dint"] is None and d["estimate_ci"][1] is None
    assert d["baseline_below_reference"] is False and "estimator" not in d and d["compression"] is None
    assert "d_int90 = >8 (not reached)   90% CI [" in format_table([r])
