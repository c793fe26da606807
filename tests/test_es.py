"""OpenAI-ES: estimator, centered ranks, optimisation, CartPole learning and determinism."""

import numpy as np
import pytest

from rlsub.agents.es import ES, ESConfig, centered_ranks
from rlsub.errors import ConfigError
from rlsub.tasks import run_trial, trial_context
from rlsub.trial import TrialConfig


def test_centered_ranks():
    r = centered_ranks(np.array([10.0, -3.0, 7.0, 0.0]))
    np.testing.assert_allclose(r, [0.5, -0.5, 1 / 6, -1 / 6])
    assert centered_ranks(np.array([3.0, 3.0])).tolist() == [-0.5, 0.5]  # ties: by position
    assert abs(centered_ranks(np.random.default_rng(0).normal(size=101)).sum()) < 1e-12


def test_gradient_estimate_points_uphill_on_a_quadratic():
    # f(θ) = -||θ - c||²: at θ = 0 the true gradient is 2c.
    c = np.linspace(-1.0, 1.0, 10)
    es = ES(10, seed=0, config=ESConfig(popsize=2000, sigma=0.05))
    X = es.ask()
    g = es.gradient(-((X - c) ** 2).sum(axis=1))
    cos = g @ c / (np.linalg.norm(g) * np.linalg.norm(c))
    assert cos > 0.9


def test_mirrored_sampling():
    es = ES(5, seed=3, config=ESConfig(popsize=6, sigma=0.2))
    X = es.ask()
    np.testing.assert_allclose(X[0::2] + X[1::2], 0.0, atol=1e-12)  # θ = 0: pairs are ±σε


def test_es_optimises_a_quadratic():
    c = np.full(8, 0.7)
    es = ES(8, seed=1, config=ESConfig(popsize=20, sigma=0.05, lr=0.05, l2=0.0))
    for _ in range(300):
        X = es.ask()
        es.tell(X, -((X - c) ** 2).sum(axis=1))
    assert np.linalg.norm(es.mean - c) < 0.1
    assert es.best[1] > -0.1


def _parallel_moments(chunks, count):
    """The normaliser's update written out (Chan et al.'s merge, float64): what stored ES obs_norm trials
    were computed with; gymnasium's RunningMeanStd must keep giving these bits."""
    mean, var = np.zeros(chunks[0].shape[1:]), np.ones(chunks[0].shape[1:])
    for x in chunks:
        bm, bv, n = x.mean(0), x.var(0), len(x)
        delta, tot = bm - mean, count + n
        mean = mean + delta * n / tot
        var = (var * count + bv * n + delta**2 * count * n / tot) / tot
        count = tot
    return mean, var


def test_obs_norm_refresh_folds_every_observation_in_bit_for_bit():
    from rlsub.agents.es import NormalizedEvaluator

    ctx = trial_context(_cfg(1000, obs_norm=True))
    try:
        norm = NormalizedEvaluator(ctx.evaluator, clip_std=0.5)
        x = np.random.default_rng(0).normal(3.0, 2.0, size=(1000, 4))
        x[:, 3] *= 0.1  # a coordinate whose std (0.2) is below clip_std
        chunks = np.array_split(x, 7)
        norm.seen = [*chunks[:3], np.zeros((0, 4)), *chunks[3:]]  # an empty chunk changes nothing
        norm.refresh()
        assert norm.seen == []
        mean, var = _parallel_moments(chunks, 1e-4)
        np.testing.assert_array_equal(norm.frozen_mean, mean)
        np.testing.assert_array_equal(norm.frozen_std, np.sqrt(np.maximum(var, 0.25)))
        np.testing.assert_allclose(norm.frozen_mean, x.mean(0), atol=1e-3)
        np.testing.assert_allclose(norm.frozen_std[:3], x.std(0)[:3], rtol=1e-3)
        assert norm.frozen_std[3] == 0.5
    finally:
        ctx.close()


@pytest.mark.parametrize("kw, msg", [
    ({"popsize": 0}, "popsize"), ({"popsize": 5}, "even"), ({"sigma": 0.0}, "sigma"),
    ({"lr": -1.0}, "lr"), ({"l2": -0.1}, "l2"), ({"beta1": 1.0}, "beta1"),
])
def test_bad_hyper_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        ESConfig(**kw)


def _cfg(budget, **params):
    return TrialConfig("CartPole-v1", method="es", dim=8, seed=0, budget=budget, eval_episodes=10,
                       params=tuple(sorted(params.items())))


def test_es_learns_cartpole_in_a_subspace():
    cfg = _cfg(20_000, popsize=20)
    ctx = trial_context(cfg)
    untrained = float(np.mean(ctx.final_test(np.zeros(8))))
    ctx.close()
    r = run_trial(cfg)
    assert r.final_mean > max(100.0, 3 * untrained)
    assert r.curve[-1][2] > r.curve[0][2]


def test_es_is_deterministic():
    a, b = run_trial(_cfg(3000, popsize=10)), run_trial(_cfg(3000, popsize=10))
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert a.curve == b.curve and a.final_returns == b.final_returns


def test_es_obs_norm_records_the_observation_statistics():
    """Observations ~ N([3, -2], [0.5, 2]²): the frozen normaliser must have found those moments."""
    from tests_helpers import GaussianObs

    r = run_trial(TrialConfig("tests_helpers:GaussianObs", method="es", dim=4, seed=0, budget=3000, eval_episodes=2,
                              params=(("obs_norm", True), ("popsize", 8))))
    stats = r.info["obs_norm"]
    assert np.allclose(stats["mean"], GaussianObs.MEAN, atol=0.15)
    assert np.allclose(stats["std"], GaussianObs.STD, rtol=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("dim,seed", [(4, 0), (8, 0)])
def test_es_solves_cartpole_at_small_d(dim, seed):
    r = run_trial(TrialConfig("CartPole-v1", method="es", dim=dim, seed=seed, budget=150_000, params=(("popsize", 20),)))
    assert r.final_mean >= 475


def test_obs_norm_statistics_are_saved_and_replayed(tmp_path, capsys):
    """A solution trained with obs_norm replays with the frozen statistics and reproduces its score."""
    import json

    from rlsub.cli.main import main

    out = tmp_path / "o"
    assert main(["run", "--env", "InvertedPendulum-v5", "--method", "es", "--dim", "4", "--budget", "3000",
                 "--eval-episodes", "3", "--param", "obs_norm=true", "--param", "popsize=8", "--out", str(out)]) == 0
    capsys.readouterr()
    (sol,) = list((out / "solutions").glob("*.json"))
    doc = json.loads(sol.read_text())
    assert len(doc["extra"]["obs_norm"]["mean"]) == 4
    assert main(["replay", str(sol)]) == 0
    replayed = float(capsys.readouterr().out.split("replayed: ")[1].split()[0])
    assert replayed == pytest.approx(doc["metrics"]["final_mean"], rel=1e-6)
