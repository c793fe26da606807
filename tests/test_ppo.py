"""PPO: GAE by hand, CartPole learning, determinism, value-subspace flag, bad hyper-parameters."""

import numpy as np
import pytest
import torch

from rlsub.agents.ppo import PPOConfig, actor_critic_params, gae, make_value_subspace
from rlsub.errors import ConfigError
from rlsub.tasks import run_trial, trial_context
from rlsub.trial import TrialConfig


def test_gae_hand_computed():
    # One env, three steps, episode ends after step 1 (index 1); γ = 0.5, λ = 0.5.
    r = np.array([[1.0], [2.0], [3.0]])
    v = np.array([[0.5], [1.0], [1.5]])
    d = np.array([[False], [True], [False]])
    nv = np.array([2.0])
    adv, ret = gae(r, v, d, nv, gamma=0.5, lam=0.5)
    d2 = 3.0 + 0.5 * 2.0 - 1.5          # 2.5, bootstraps from next_value
    d1 = 2.0 - 1.0                      # 1.0, terminal: no bootstrap, no carry
    d0 = 1.0 + 0.5 * 1.0 - 0.5          # 1.0
    a0 = d0 + 0.25 * d1                 # 1.25
    np.testing.assert_allclose(adv[:, 0], [a0, d1, d2])
    np.testing.assert_allclose(ret, adv + v)


def test_gae_lambda_one_is_monte_carlo():
    r = np.ones((4, 1))
    v = np.zeros((4, 1))
    adv, _ = gae(r, v, np.zeros((4, 1), bool), np.zeros(1), gamma=0.9, lam=1.0)
    np.testing.assert_allclose(adv[:, 0], [1 + 0.9 + 0.81 + 0.729, 1 + 0.9 + 0.81, 1.9, 1.0])


@pytest.mark.parametrize("kw, msg", [
    ({"lr": -1e-3}, "lr"), ({"num_envs": 0}, "num_envs"), ({"clip": 0.0}, "clip"),
    ({"gamma": 1.5}, "gamma"), ({"value_subspace": "both"}, "value_subspace"), ({"target_kl": 0.0}, "target_kl"),
])
def test_bad_hyper_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        PPOConfig(**kw)


def _cfg(budget, dim=None, env="CartPole-v1", **params):
    return TrialConfig(env, method="ppo", dim=dim, seed=0, budget=budget, eval_episodes=10,
                       params=tuple(sorted(params.items())))


def test_ppo_learns_cartpole():
    cfg = _cfg(8192)
    ctx = trial_context(cfg)
    untrained = float(np.mean(ctx.final_test(np.zeros(ctx.policy.d))))
    ctx.close()
    r = run_trial(cfg)
    assert r.final_mean > max(60.0, 3 * untrained)
    assert r.curve[-1][1] > 2 * r.curve[0][1]


def test_ppo_is_deterministic():
    a, b = run_trial(_cfg(512, dim=16, epochs=2)), run_trial(_cfg(512, dim=16, epochs=2))
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert a.curve == b.curve and a.final_returns == b.final_returns and a.info == b.info


@pytest.mark.parametrize("projection", ["dense", "fastfood"])
def test_value_coordinates_share_the_policy_projection(projection):
    ctx = trial_context(TrialConfig("CartPole-v1", method="ppo", dim=8, projection=projection, seed=0))
    policy = ctx.policy
    vsub = make_value_subspace(ctx, PPOConfig(), policy)
    assert vsub.projection is policy.projection and vsub.D == policy.D
    assert not torch.equal(vsub.theta_0, policy.theta_0)  # own θ_0
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        policy.theta_d.copy_(torch.randn(8, generator=g))
        vsub.theta_d.copy_(torch.randn(8, generator=g))
    pp, vp = actor_critic_params(policy, vsub, vsub.theta_d)
    for k, v in policy.params().items():
        torch.testing.assert_close(pp[k], v)
    for k, v in vsub.params().items():
        torch.testing.assert_close(vp[k], v)
    loss = sum(t.sum() for t in pp.values()) + 2 * sum(t.sum() for t in vp.values())
    loss.backward()  # gradients reach both coordinate vectors through the stacked product
    assert policy.theta_d.grad is not None and vsub.theta_d.grad is not None
    assert not torch.allclose(policy.theta_d.grad, vsub.theta_d.grad)
    ctx.close()
    full = trial_context(TrialConfig("CartPole-v1", method="ppo", seed=0))
    assert make_value_subspace(full, PPOConfig(), full.policy).projection is not full.policy.projection
    full.close()


def test_shared_value_subspace_trains_d_numbers_only():
    r = run_trial(_cfg(512, dim=16, epochs=2, value_subspace="shared"))
    assert r.info["value_subspace"] == "shared" and r.info["value_d"] == 16 and r.d == 16
    assert not r.info["value_fused"]
    assert run_trial(_cfg(512, dim=16, epochs=2)).info["value_fused"]
    # The full-space baseline of a 'shared' sweep is the unrestricted method: its value net trains on its own.
    full = run_trial(_cfg(512, dim=None, epochs=1, value_subspace="shared"))
    assert full.info["value_subspace"] == "own" and full.moved == 4610 + 4545  # policy and value net, all of them


def test_ppo_gaussian_head_on_fastfood(monkeypatch):
    """Box actions: pre-tanh actions ~ N(policy output, exp(log_std)); the rollout's and the update's
    log-probs and entropies are that Normal's; σ starts at exp(init_log_std) and is trained."""
    import gaussian_head

    calls = gaussian_head.record(monkeypatch)
    r = run_trial(TrialConfig("InvertedPendulum-v5", method="ppo", dim=8, projection="fastfood", seed=0,
                              budget=512, eval_episodes=2, params=(("epochs", 2), ("init_log_std", -0.5))))
    gaussian_head.check_gaussian(calls, action_dim=1)
    assert calls["sample"][0][2].tolist() == [-0.5]
    assert len(r.info["log_std"]) == 1 and r.info["log_std"][0] != -0.5 and r.env_steps >= 512


@pytest.mark.slow
def test_ppo_solves_cartpole_full_space():
    assert run_trial(_cfg(100_000)).final_mean >= 475


@pytest.mark.slow
def test_ppo_solves_inverted_pendulum_full_space():
    assert run_trial(_cfg(300_000, env="InvertedPendulum-v5")).final_mean >= 950


@pytest.mark.slow
def test_ppo_solves_cartpole_at_d64():
    assert run_trial(_cfg(150_000, dim=64)).final_mean >= 475  # subspace defaults: ppo.SUBSPACE


def test_value_norm_tracks_the_moments_of_all_targets():
    from rlsub.agents.ppo import ValueNorm

    rng = np.random.default_rng(0)
    batches = [rng.normal(50.0, 20.0, size=n) for n in (64, 128, 7)]
    vn = ValueNorm(True)
    for b in batches:
        vn.update(b)
    allx = np.concatenate(batches)
    assert vn.mean == pytest.approx(allx.mean()) and vn.std == pytest.approx(allx.std())
    t = torch.tensor([10.0, 90.0])
    torch.testing.assert_close(torch.as_tensor(vn.denorm(vn.norm(t).numpy())), t)
    off = ValueNorm(False)
    off.update(allx)
    assert off.denorm(np.array([3.0]))[0] == 3.0 and off.norm(t) is t


def _shared(norm_values=None):
    params = (("value_subspace", "shared"),) + ((("norm_values", norm_values),) if norm_values is not None else ())
    return TrialConfig("CartPole-v1", method="ppo", dim=64, seed=1, budget=100_000, eval_episodes=10,
                       params=tuple(sorted(params)))


def test_shared_value_subspace_learns_with_normalised_values():
    """One θ_d for policy and value: standardised value targets (the shared default) learn (seed 1,
    d = 64, 100k steps: 352); with raw CartPole returns the value loss swamps the policy gradient (49)."""
    r = run_trial(_shared())
    assert r.info["norm_values"] and r.final_mean >= 250


@pytest.mark.slow
def test_shared_value_subspace_without_value_norm_barely_learns():
    raw = run_trial(_shared(norm_values=False))
    assert not raw.info["norm_values"] and raw.final_mean < 150


def test_value_norm_moments_are_the_former_merge_bit_for_bit():
    """ValueNorm runs on gymnasium's RunningMeanStd (no prior count); stored PPO trials were computed with
    this merge written out in Python floats over whole ``[T, N]`` target arrays."""
    from rlsub.agents.ppo import ValueNorm

    rng = np.random.default_rng(1)
    vn, count, mean, var = ValueNorm(True), 0, 0.0, 1.0
    for T, N in [(128, 4), (32, 8), (5, 3), (128, 4)]:
        x = rng.normal(40.0, 25.0, size=(T, N))
        vn.update(x)
        n, m, v = x.size, float(np.mean(x)), float(np.var(x))
        total, delta = count + n, m - mean
        var = (var * count + v * n + delta**2 * count * n / total) / total
        mean += delta * n / total
        count = total
        assert (vn.mean, vn.var, vn.count) == (mean, var, count)
