"""REINFORCE: returns-to-go, baselines, CartPole learning, determinism, bad hyper-parameters."""

import numpy as np
import pytest

from rlsub.agents.reinforce import ReinforceConfig, returns_to_go
from rlsub.errors import ConfigError
from rlsub.tasks import run_trial, trial_context
from rlsub.trial import TrialConfig


def test_returns_to_go_respects_episode_end():
    r = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    mask = np.array([[True, True], [True, True], [True, False]])
    G = returns_to_go(r, mask, gamma=0.5)
    np.testing.assert_allclose(G[:, 0], [1.75, 1.5, 1.0])
    np.testing.assert_allclose(G[:, 1], [1.5, 1.0, 0.0])


@pytest.mark.parametrize("kw, msg", [
    ({"lr": -1.0}, "lr"), ({"episodes": 0}, "episodes"), ({"baseline": "mean"}, "baseline"),
    ({"gamma": -0.1}, "gamma"), ({"vf_coef": -1.0}, "vf_coef"),
])
def test_bad_hyper_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        ReinforceConfig(**kw)


def _cfg(budget, dim=None, env="CartPole-v1", **params):
    return TrialConfig(env, method="reinforce", dim=dim, seed=0, budget=budget, eval_episodes=10,
                       params=tuple(sorted(params.items())))


def test_reinforce_learns_cartpole():
    cfg = _cfg(10_000)
    ctx = trial_context(cfg)
    untrained = float(np.mean(ctx.final_test(np.zeros(ctx.policy.d))))
    ctx.close()
    r = run_trial(cfg)
    assert r.final_mean > max(60.0, 3 * untrained)


@pytest.mark.parametrize("baseline", ["learned", "running", "none"])
def test_reinforce_is_deterministic(baseline):
    a, b = (run_trial(_cfg(400, dim=16, baseline=baseline)) for _ in range(2))
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert a.curve == b.curve and a.final_returns == b.final_returns


def test_reinforce_gaussian_head(monkeypatch):
    """Box actions: pre-tanh actions ~ N(policy output, exp(log_std)), and the policy gradient's
    log-probs are that Normal's; σ starts at exp(init_log_std) and is trained."""
    import gaussian_head

    calls = gaussian_head.record(monkeypatch)
    r = run_trial(TrialConfig("InvertedPendulum-v5", method="reinforce", dim=8, projection="sparse", seed=0,
                              budget=300, eval_episodes=2, params=(("init_log_std", -0.5),)))
    gaussian_head.check_gaussian(calls, action_dim=1)
    assert calls["sample"][0][2].tolist() == [-0.5]
    assert len(r.info["log_std"]) == 1 and r.info["log_std"][0] != -0.5  # learned alongside θ_d
