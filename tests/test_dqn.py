"""DQN: replay buffer, TD target, CartPole learning, determinism, bad hyper-parameters."""

import numpy as np
import pytest
import torch

from rlsub.agents.common import trial_config
from rlsub.agents.dqn import PONG, SUBSPACE, DQNConfig, ReplayBuffer, td_loss
from rlsub.errors import ConfigError
from rlsub.subspace import Subspace
from rlsub.trial import TrialConfig, TrialContext, run_trial


def test_replay_buffer_is_circular_and_sampling_is_seeded():
    buf = ReplayBuffer(5, (2,))
    for k in range(3):  # 3 batches of 2 envs = 6 transitions into 5 slots
        obs = np.full((2, 2), k, dtype=np.float32)
        buf.add(obs, np.array([k, k]), np.array([1.0, 2.0]), obs + 1, np.array([0.0, 1.0]))
    assert len(buf) == 5 and buf.pos == 1
    assert buf.obs[0, 0] == 2  # the oldest transition was overwritten
    a = buf.sample(64, np.random.default_rng(0))
    b = buf.sample(64, np.random.default_rng(0))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(a["next_obs"], a["obs"] + 1)
    assert set(np.unique(a["dones"])) <= {0.0, 1.0}
    with pytest.raises(ValueError):
        ReplayBuffer(3, (1,)).sample(1, np.random.default_rng(0))


def test_replay_buffer_keeps_uint8_frames():
    buf = ReplayBuffer(4, (4, 84, 84), np.uint8)
    assert buf.obs.dtype == np.uint8


def _linear_q():
    net = torch.nn.Linear(1, 2, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0], [2.0]]))
    return Subspace(net, d=None)


@pytest.mark.parametrize("double", [False, True])
def test_td_target_by_hand(double):
    sub = _linear_q()
    theta = sub.theta_d
    target = torch.zeros_like(theta)
    target[0] = 3.0  # target net: Q(s') = [4 s', 2 s'] -> max picks action 0, online picks action 1
    b = {"obs": np.array([[1.0]], np.float32), "actions": np.array([0]), "rewards": np.array([0.5], np.float32),
         "next_obs": np.array([[1.0]], np.float32), "dones": np.array([0.0], np.float32)}
    cfg = DQNConfig(gamma=0.5, huber=False, double=double)
    loss = td_loss(sub, theta, sub.params(target), b, cfg, "cpu")
    y = 0.5 + 0.5 * (2.0 if double else 4.0)
    assert loss.item() == pytest.approx((1.0 - y) ** 2)
    b["dones"][:] = 1.0
    assert td_loss(sub, theta, sub.params(target), b, cfg, "cpu").item() == pytest.approx(0.25)


def test_reward_scale_scales_the_td_target():
    sub = _linear_q()
    b = {"obs": np.array([[1.0]], np.float32), "actions": np.array([0]), "rewards": np.array([0.5], np.float32),
         "next_obs": np.array([[1.0]], np.float32), "dones": np.array([1.0], np.float32)}
    cfg = DQNConfig(huber=False, reward_scale=0.1)
    assert td_loss(sub, sub.theta_d, sub.params(), b, cfg, "cpu").item() == pytest.approx((1.0 - 0.05) ** 2)


def test_subspace_trials_get_subspace_defaults():
    full = trial_config(DQNConfig, TrialContext(_cfg(1000)), "dqn", SUBSPACE)
    sub = trial_config(DQNConfig, TrialContext(_cfg(1000, dim=8)), "dqn", SUBSPACE)
    own = trial_config(DQNConfig, TrialContext(_cfg(1000, dim=8, lr=1e-3)), "dqn", SUBSPACE)
    assert full == DQNConfig()
    assert sub.lr == SUBSPACE["lr"] and sub.reward_scale == SUBSPACE["reward_scale"]
    assert own.lr == 1e-3 and own.reward_scale == SUBSPACE["reward_scale"]  # --param wins


@pytest.mark.parametrize("kw, msg", [
    ({"reward_scale": 0.0}, "reward_scale"), ({"lr": -1e-3}, "lr"), ({"buffer_size": 0}, "buffer_size"), ({"batch_size": 10, "buffer_size": 5}, "batch_size"),
    ({"tau": 0.0}, "tau"), ({"eps_end": 1.5}, "eps_end"), ({"num_envs": 0}, "num_envs"),
])
def test_bad_hyper_parameters(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        DQNConfig(**kw)


def test_pong_preset_is_valid():
    assert PONG.buffer_size == 1_000_000 and PONG.double


def _cfg(budget, dim=None, **params):
    return TrialConfig("CartPole-v1", method="dqn", dim=dim, seed=0, budget=budget, eval_episodes=10,
                       params=tuple(sorted(params.items())))


def test_dqn_learns_cartpole():
    cfg = _cfg(12_000, learning_starts=500, exploration_fraction=0.1, train_freq=64, gradient_steps=16,
               target_update=64)
    ctx = TrialContext(cfg)
    untrained = float(np.mean(ctx.final_test(np.zeros(ctx.policy.d))))
    ctx.close()
    r = run_trial(cfg)
    assert r.final_mean > max(60.0, 3 * untrained)


@pytest.mark.parametrize("double", [False, True])
def test_dqn_is_deterministic(double):
    kw = dict(dim=16, learning_starts=100, train_freq=50, gradient_steps=4, double=double, num_envs=2)
    a, b = run_trial(_cfg(600, **kw)), run_trial(_cfg(600, **kw))
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert a.curve == b.curve and a.final_returns == b.final_returns


@pytest.mark.slow
def test_dqn_solves_cartpole_at_d32():
    """The subspace defaults (lr 3e-2, reward_scale 0.01) solve CartPole-v1 at d = 32 (seed 0: ~25k steps)."""
    r = run_trial(TrialConfig("CartPole-v1", method="dqn", dim=32, seed=0, budget=100_000, eval_episodes=20))
    assert r.final_mean >= 475
