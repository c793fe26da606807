"""CMA-ES adapter and the direct-search trial loop on CartPole."""

import numpy as np
import pytest

from rlsub.agents import CMAES, CMAESConfig
from rlsub.errors import ConfigError
from rlsub.tasks import run_trial
from rlsub.trial import TrialConfig


def test_adapter_maximises():
    opt = CMAES(d=3, seed=0, config=CMAESConfig(sigma0=0.5, restarts=0))
    target = np.array([1.0, -2.0, 0.5])
    for _ in range(150):
        if opt.stop():
            break
        X = opt.ask()
        opt.tell(X, -((X - target) ** 2).sum(axis=1))
    assert np.allclose(opt.mean, target, atol=1e-2)


@pytest.mark.parametrize("d", [1, 2])
def test_tiny_dims_survive_stops_and_restarts(d):
    """Flat fitness makes pycma stop almost at once; the adapter restarts, then finishes cleanly."""
    opt = CMAES(d=d, seed=1, config=CMAESConfig(restarts=2))
    gens = 0
    while not opt.stop() and gens < 5000:
        X = opt.ask()
        opt.tell(X, np.zeros(len(X)))
        gens += 1
    assert opt.stop()
    assert opt.info()["restarts"] == 2
    assert opt.info()["final_popsize"] > CMAES(d=d, seed=1).es.popsize


def _pair_correlation(diagonal_above: int) -> float:
    """Mean correlation of coordinate pairs (2i, 2i+1) in pycma's search distribution after adapting to a
    fitness whose valley runs along x_2i = x_2i+1 (full CMA learns the correlation; sep-CMA cannot)."""
    d = 20
    opt = CMAES(d=d, seed=0, config=CMAESConfig(diagonal_above=diagonal_above, sigma0=0.5, restarts=0))
    for _ in range(150):
        if opt.stop():
            break
        X = opt.ask()
        a, b = X[:, 0::2], X[:, 1::2]
        opt.tell(X, -(100 * (a - b) ** 2 + 0.01 * (a + b) ** 2).sum(axis=1))
    samples = np.asarray(opt.es.ask(2000))
    corr = np.corrcoef(samples.T)
    return float(np.mean([corr[2 * i, 2 * i + 1] for i in range(d // 2)]))


def test_sep_cma_above_threshold_really_is_diagonal(caplog):
    caplog.set_level("INFO", logger="rlsub.agents.cmaes")  # INFO: the CLI says it once per sweep instead
    assert CMAES(d=20, seed=0, config=CMAESConfig(diagonal_above=10)).info()["sep_cma"]
    assert "sep-CMA" in caplog.text
    assert abs(_pair_correlation(diagonal_above=10)) < 0.1  # pycma ran with a diagonal covariance
    assert _pair_correlation(diagonal_above=100) > 0.5  # below the threshold: full covariance


def test_bad_hyperparameters():
    with pytest.raises(ConfigError, match="sigma0"):
        CMAESConfig(sigma0=0)
    with pytest.raises(ConfigError, match="popsize"):
        CMAESConfig(popsize=1)


def test_solves_cartpole_at_d8():
    r = run_trial(TrialConfig("CartPole-v1", method="cmaes", dim=8, seed=4, budget=60_000))
    assert r.final_mean >= 475
    assert len(r.final_returns) == 20
    assert r.d == 8 and r.D == 4610


def test_deterministic():
    cfg = TrialConfig("CartPole-v1", method="cmaes", dim=4, seed=1, budget=4_000, eval_episodes=3)
    a, b = run_trial(cfg), run_trial(cfg)
    assert np.array_equal(a.theta_d, b.theta_d)
    assert a.final_returns == b.final_returns
    assert a.curve == b.curve


@pytest.mark.parametrize("d", [1, 2])
def test_tiny_dims_on_cartpole_still_learn(d):
    """A 1- or 2-d subspace survives pycma's early stops and still learns: over 3 seeds the final
    policies balance at least twice as long as the first generation did."""
    runs = [run_trial(TrialConfig("CartPole-v1", method="cmaes", dim=d, seed=s, budget=5_000, eval_episodes=5))
            for s in range(3)]
    assert all(r.env_steps >= 5_000 for r in runs)
    assert sum(r.final_mean for r in runs) >= 2 * sum(r.curve[0][1] for r in runs)


def test_inverted_pendulum_learns_with_box_actions():
    from rlsub.tasks import trial_context

    cfg = TrialConfig("InvertedPendulum-v5", method="cmaes", dim=4, seed=0, budget=3_000, eval_episodes=2)
    assert trial_context(cfg).spec.action.kind == "box"
    r = run_trial(cfg)
    # A random force keeps the pole up ~7 steps; 3,000 steps of search already hold it 20x longer.
    assert r.D == 4545 and r.curve[0][1] < 10 and r.final_mean > 100


def test_a_cma_signals_file_in_the_working_directory_changes_nothing(tmp_path, monkeypatch):
    """pycma reads options from ./cma_signals.in at every stop() unless told not to: a stray file
    (here: stop after one iteration) must not change a trial."""
    def run() -> tuple[list[str], np.ndarray]:
        es = CMAES(3, seed=0, config=CMAESConfig(restarts=0))
        rng = np.random.default_rng(0)
        for _ in range(5):
            x = es.ask()
            es.tell(x, -np.sum(x**2, axis=1) + 0.01 * rng.standard_normal(len(x)))
        return es.stop_reasons, es.mean

    clean = run()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cma_signals.in").write_text("{'maxiter': 1}")
    reasons, mean = run()
    assert reasons == clean[0] == [] and np.array_equal(mean, clean[1])
