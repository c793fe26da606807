"""DQN's batched engine: K trials trained as one computation, each trial's numbers its lone run's."""

import numpy as np
import pytest
import torch
from torch import nn

from rlsub.agents.dqn.batched import network_signature, run_batched
from rlsub.agents.dqn.single import resolve_config
from rlsub.errors import ConfigError
from rlsub.subspace import Subspace
from rlsub.tasks import run_trial, trial_context
from rlsub.tasks.lockstep import group_for_lockstep, lockstep_key, run_lockstep
from rlsub.trial import TrialConfig

pytestmark = pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date")

LI2018 = "CartPole-v0-li2018"


def _config(d, seed, projection="dense", budget=2500, env=LI2018, **params):
    return TrialConfig(env, method="dqn", dim=d, seed=seed, budget=budget, projection=projection, eval_episodes=3,
                       params=tuple(sorted({"engine": "batched", **params}.items())))


def _items(configs):
    for i, c in enumerate(configs):
        ctx = trial_context(c)
        yield (i, ctx, *resolve_config(ctx))


def _run(configs, **kw):
    """Outcomes by index of ``configs`` trained as batches."""
    return dict(run_batched(_items(configs), close_contexts=True, **kw))


def assert_same(a, b):
    assert a.final_returns == b.final_returns and a.curve == b.curve and a.env_steps == b.env_steps
    np.testing.assert_array_equal(a.theta_d, b.theta_d)
    assert {k: v for k, v in a.info.items()} == {k: v for k, v in b.info.items()}


def test_trials_batch_by_network_layout_and_other_networks_are_refused():
    torch.manual_seed(0)

    def mlp(hidden, act):
        return nn.Sequential(nn.Linear(4, hidden), act(), nn.Linear(hidden, 2))

    a, b = Subspace(mlp(20, nn.ReLU), d=3, seed=0), Subspace(mlp(20, nn.ReLU), d=7, seed=1)
    assert network_signature(a) == network_signature(b)  # d and seed may differ
    assert network_signature(a) != network_signature(Subspace(mlp(20, nn.Tanh), d=3, seed=0))
    assert network_signature(a) != network_signature(Subspace(mlp(21, nn.ReLU), d=3, seed=0))
    with pytest.raises(ConfigError, match="plain MLP"):
        network_signature(Subspace(nn.Sequential(nn.Linear(4, 4), nn.Softmax(-1)), d=2, seed=0))


def test_batched_trials_equal_their_lone_runs_bit_for_bit():
    """Different d, seeds and projections in one batch; one trial leaves early (a shorter budget):
    every trial gets exactly the numbers it gets alone."""
    configs = [_config(12, 0), _config(25, 1, "sparse", budget=1200), _config(6, 2, "fastfood")]
    together = _run(configs)
    assert len(together) == 3
    for i, c in enumerate(configs):
        alone = _run([c])[0]
        assert_same(together[i], alone)
        assert together[i].info["gradient_steps"] > 0 and np.abs(together[i].theta_d).max() > 0


def test_slot_env_copies_and_single_envs_give_the_same_trials():
    """CartPoleBatch copies (per-copy streams) play each trial's episodes exactly as its own env does."""
    configs = [_config(8, 0, budget=1500), _config(8, 3, budget=1500)]
    copies, single = _run(configs), _run(configs, single_envs=True)
    for i in range(2):
        assert_same(copies[i], single[i])


def test_other_options_batch_exactly_too():
    """Soft target updates every 3 steps, Double DQN, Huber loss and L2: still each trial's own numbers."""
    kw = dict(tau=0.1, target_update=3, double=True, huber=True, l2=0.01)
    configs = [_config(8, 0, budget=1500, **kw), _config(16, 1, budget=1500, **kw)]
    together = _run(configs)
    for i, c in enumerate(configs):
        assert_same(together[i], _run([c])[0])


def test_a_run_is_a_batch_of_one_and_engines_are_part_of_the_config():
    c = _config(8, 0, budget=1200)
    ran = run_trial(c)  # rlsub run: dqn_engines.run dispatches on the engine
    assert_same(ran, _run([c])[0])
    assert ran.info["dqn_config"]["engine"] == "batched"
    # the engines may round differently in the last bits (Adam's kernel, tests/test_dqn_engines.py): never pooled
    single = _config(8, 0, budget=1200, engine="single")
    assert single.fingerprint() != c.fingerprint() and single.key() != c.key()


def test_the_engines_run_the_same_algorithm():
    """With ε = 1 the actions ignore the network, so both engines play the same episodes, replay the
    same transitions and take the same gradient steps: θ_d agrees up to rounding."""
    kw = dict(eps_start=1.0, eps_end=1.0, learning_starts=100, train_freq=1, gradient_steps=1, batch_size=32,
              target_update=10, store_every=2, l2=0.001, early_stop=False)
    batched = run_trial(_config(8, 0, budget=700, env="CartPole-v1", **kw))
    single = run_trial(_config(8, 0, budget=700, env="CartPole-v1", engine="single", **kw))
    assert batched.curve == single.curve and batched.info["gradient_steps"] == single.info["gradient_steps"] == 601
    assert batched.info["replay"] == single.info["replay"]
    np.testing.assert_allclose(batched.theta_d, single.theta_d, rtol=1e-4, atol=1e-6)
    assert np.abs(batched.theta_d).max() > 1e-3  # it did move


def test_batched_engine_learns_cartpole():
    """Same bar as the single engine's learning test (tests/test_dqn.py)."""
    kw = dict(learning_starts=500, exploration_fraction=0.1, train_freq=64, gradient_steps=16, target_update=64)
    cfg = TrialConfig("CartPole-v1", method="dqn", seed=0, budget=12_000, eval_episodes=10,
                      params=tuple(sorted({"engine": "batched", **kw}.items())))
    ctx = trial_context(cfg)
    untrained = float(np.mean(ctx.final_test(np.zeros(ctx.policy.d))))
    ctx.close()
    assert run_trial(cfg).final_mean > max(60.0, 3 * untrained)


@pytest.mark.parametrize("params, msg", [
    (dict(num_envs=2), "one env per trial"),
    (dict(replay="frames"), "plain replay buffer"),
    (dict(engine="fast"), "engine must be one of single, batched"),
])
def test_refusals(params, msg):
    with pytest.raises(ConfigError, match=msg):
        run_trial(_config(4, 0, budget=100, env="CartPole-v1", **params))


def test_sweeps_group_batched_dqn_trials_and_give_lone_results():
    # the li2018 preset asks for the batched engine; an explicit engine=single opts out
    plain = TrialConfig(LI2018, method="dqn", dim=4, seed=0, budget=1000, eval_episodes=3)
    assert lockstep_key(plain) is not None
    assert lockstep_key(TrialConfig(LI2018, method="dqn", dim=4, seed=0, params=(("engine", "single"),))) is None
    assert lockstep_key(TrialConfig("CartPole-v1", method="dqn", dim=4, seed=0)) is None
    assert lockstep_key(TrialConfig("CartPole-v1", method="dqn", dim=4, seed=0, params=(("engine", "batched"),)))
    configs = [TrialConfig(LI2018, method="dqn", dim=d, seed=s, budget=1000, eval_episodes=3)
               for d in (4, 8) for s in (0, 1)]
    groups = group_for_lockstep(configs, groups=2)
    assert sorted(len(g) for g in groups) == [2, 2]
    single = TrialConfig(LI2018, method="dqn", dim=4, seed=5, budget=600, eval_episodes=3,
                         params=(("engine", "single"),))
    out = dict(run_lockstep([*groups[0], single], trial_context))
    assert set(out) == {*groups[0], single}
    for c in groups[0]:
        assert_same(out[c], run_trial(c))
    assert out[single].info["dqn_config"]["engine"] == "single"
