"""Li et al. (2018) protocol presets: exact parameter counts, the bang-bang pendulum, Pong's VBN network
in a subspace population, and the documented settings."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlsub.agents.dqn.single import DQNConfig
from rlsub.agents.es import ESConfig
from rlsub.envs import PRESETS, resolve_env
from rlsub.envs.li2018 import (
    CARTPOLE_DQN_BUDGET,
    DQN_ANNEAL_STEPS,
    LI2018_PRESETS,
    REQUIRED_SOURCES,
    UniformBins,
    attach_reference,
    reference_batch,
)
from rlsub.policies.vbn import VBNConvNet
from rlsub.subspace import Subspace, count_parameters
from rlsub.sweeps.plan import plan_sweep
from rlsub.tasks.rl import env_task
from rlsub.trial import TrialConfig

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # CartPole-v0, Humanoid-v4

NAMES = [p.name for p in LI2018_PRESETS]


@pytest.mark.parametrize(
    "name,obs_shape,D",
    [
        ("CartPole-v0-li2018", (4,), 562),
        ("InvertedPendulum-li2018", (4,), 562),
        ("Humanoid-li2018", (376,), 166_673),
        ("Pong-li2018", (4, 84, 84), 1_005_974),
    ],
)
def test_parameter_counts_match_the_paper(name, obs_shape, D):
    spec = env_task(name).policy_spec()  # the path every trial takes
    assert spec.obs_shape == obs_shape
    assert count_parameters(spec.build(0)) == D


def test_cartpole_v0_protocol():
    task = env_task("CartPole-v0-li2018")
    p = task.preset
    assert p.env_id == "CartPole-v0" and task.max_episode_steps == 200 and p.solved_threshold == 195.0
    spec = task.policy_spec()
    assert spec.hidden == (20, 20) and spec.activation == "relu" and spec.action.n == 2
    assert p.protocol_method == "dqn" and p.protocol_seeds == 5
    dqn = p.method_params["dqn"]
    # ε anneals over 10,000 env steps whatever the budget; the budget is the official 10,000 × 200 ceiling
    assert dqn["exploration_steps"] == DQN_ANNEAL_STEPS
    assert p.budget == CARTPOLE_DQN_BUDGET == 10_000 * 200
    # the official score, stop rule, replay thinning and terminal time limit; its target network is the
    # online one and its reg_param penalty never applies (both act on empty variable lists)
    assert (dqn["score"], dqn["store_every"], dqn["bootstrap_truncation"]) == ("train100", 5, False)
    assert (dqn["tau"], dqn["target_update"], dqn["l2"]) == (1.0, 1, 0.0)
    assert (dqn["lr"], dqn["eps_start"], dqn["gamma"], dqn["batch_size"]) == (1e-4, 0.5, 0.95, 32)


class _Built(Exception):
    """Raised by a spy once it has seen the config a trial was about to train with."""


def _built_config(monkeypatch, tmp_path, name: str, method: str, dim: str):
    """The method config (and optimizer, for ES) that ``rlsub run --env name --method method`` trains with."""
    import rlsub.agents.direct_search as direct
    import rlsub.agents.dqn.engines as dqn_engines
    import rlsub.agents.es as es
    from rlsub.cli.main import main

    seen = {}

    def dqn_spy(jobs):
        (ctx, seen["cfg"], _table), = jobs
        raise _Built

    def dqn_engine_spy(cfg, ctx, table):
        seen["cfg"] = cfg
        raise _Built

    def es_spy(ctx, optimizer, *a, **kw):
        seen["cfg"], seen["optimizer"] = optimizer.config, optimizer
        raise _Built

    monkeypatch.setattr(dqn_engines, "train_batched", dqn_spy)
    monkeypatch.setattr(dqn_engines, "train", dqn_engine_spy)
    monkeypatch.setattr(direct, "direct_search", es_spy)
    monkeypatch.setattr(es, "direct_search", es_spy)  # es imports it by name
    with pytest.raises(_Built):
        main(["run", "--env", name, "--method", method, "--dim", dim, "--out", str(tmp_path)])
    return seen


@pytest.mark.parametrize("dim", ["4", "full"])
def test_cartpole_preset_trains_the_published_dqn(monkeypatch, tmp_path, dim):
    """Through the CLI, subspace or full space, the DQN config is reference/li2018_protocols.md's
    (train_dqn.py CartPole-v0 branch): the preset's values win over rlsub's subspace defaults."""
    cfg = _built_config(monkeypatch, tmp_path, "CartPole-v0-li2018", "dqn", dim)["cfg"]
    assert isinstance(cfg, DQNConfig)
    # ε from 0.5 annealed over 10,000 steps, discount 0.95, batch 32, Adam lr 1e-4, one update per env step
    assert (cfg.eps_start, cfg.exploration_steps, cfg.gamma, cfg.batch_size) == (0.5, 10_000, 0.95, 32)
    assert (cfg.lr, cfg.train_freq, cfg.gradient_steps) == (1e-4, 1, 1)
    # solved on the mean of the last 100 training episodes; rewards as the env pays them
    assert cfg.score == "train100" and cfg.reward_scale == 1.0
    # (soft target rate 0.01 and L2 1e-4 act on empty variable lists in that code: tau=1, l2=0, see the preset's sources)
    assert (cfg.tau, cfg.target_update, cfg.l2) == (1.0, 1, 0.0)


@pytest.mark.parametrize("name,obs_norm", [("InvertedPendulum-li2018", True), ("Humanoid-li2018", True),
                                           ("Pong-li2018", False)])
def test_es_presets_train_with_their_es_settings(monkeypatch, tmp_path, name, obs_norm):
    """Through the CLI, the ES trial runs with the ES code's l2coeff 0.005, and with observation
    normalisation (an ``_ObsNormES`` on a ``NormalizedEvaluator``) exactly where the preset asks."""
    from rlsub.agents.es import NormalizedEvaluator, _ObsNormES

    seen = _built_config(monkeypatch, tmp_path, name, "es", "4")
    assert isinstance(seen["cfg"], ESConfig) and seen["cfg"].l2 == 0.005 and seen["cfg"].obs_norm is obs_norm
    assert isinstance(seen["optimizer"], _ObsNormES) is obs_norm
    if obs_norm:
        assert isinstance(seen["optimizer"].evaluator, NormalizedEvaluator)


def test_every_setting_has_a_source():
    for name in NAMES:
        p = PRESETS[name]
        missing = [k for k in REQUIRED_SOURCES if not p.sources.get(k)]
        assert not missing, (name, missing)
        assert p.protocol_method in ("dqn", "es")
        assert p.return_low is not None


def test_existing_presets_keep_their_values():
    assert PRESETS["CartPole-v1"].hidden == (64, 64) and PRESETS["CartPole-v1"].method_params == {}
    assert PRESETS["Pong"].family == "cnn" and PRESETS["Pong"].atari.repeat_action_probability == 0.25
    assert PRESETS["InvertedPendulum-v5"].wrappers == ()


def test_bang_bang_pendulum():
    task = env_task("InvertedPendulum-li2018")
    env = task.make()
    try:
        assert env.action_space == gym.spaces.Discrete(2)
        wrapper = env
        while not isinstance(wrapper, UniformBins):
            wrapper = wrapper.env
        assert wrapper.action(0).tolist() == [-3.0] and wrapper.action(1).tolist() == [3.0]
        # the force actually applied by MuJoCo is the env's bound
        env.reset(seed=0)
        env.step(1)
        assert env.unwrapped.data.ctrl.tolist() == [3.0]
        env.step(0)
        assert env.unwrapped.data.ctrl.tolist() == [-3.0]
    finally:
        env.close()
    spec = task.policy_spec()
    assert spec.action.kind == "discrete" and spec.action.n == 2 and spec.hidden == (20, 20)
    # Gymnasium's DiscretizeAction would apply only the bin centres ±1.5: why UniformBins exists
    half = gym.wrappers.DiscretizeAction(gym.make("InvertedPendulum-v5"), bins=2)
    assert half.action(1).tolist() == [1.5]
    half.close()


def test_uniform_bins_validation():
    with pytest.raises(TypeError, match="1-d Box"):
        UniformBins(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="bins >= 2"):
        UniformBins(gym.make("InvertedPendulum-v5"), bins=1)
    three = UniformBins(gym.make("InvertedPendulum-v5"), bins=3)
    assert [three.action(i).item() for i in range(3)] == [-3.0, 0.0, 3.0]


def test_humanoid_observation_needs_v4():
    assert resolve_env("Humanoid-li2018").spaces[0].shape == (376,)
    env = gym.make("Humanoid-v5")  # the documented reason for v4: v5 observes 348 values
    assert env.observation_space.shape == (348,)
    env.close()


def test_pong_preset_settings():
    p = PRESETS["Pong-li2018"]
    assert p.family == "vbn_cnn" and p.hidden == (256,) and p.activation == "relu"
    assert p.atari.repeat_action_probability == 0.0 and p.atari.noop_max == 30 and p.atari.frame_skip == 4
    assert resolve_env("Pong-li2018").spaces[1] == gym.spaces.Discrete(6)


def test_reference_batch_is_seeded():
    task = resolve_env("InvertedPendulum-li2018")
    a = reference_batch(task.make, seed=3, n=40)
    assert a.shape == (40, 4)
    assert np.array_equal(a, reference_batch(task.make, seed=3, n=40))
    assert not np.array_equal(a, reference_batch(task.make, seed=4, n=40))
    assert not attach_reference(torch.nn.Linear(4, 2), task.make, seed=0)  # not a VBN network


def test_pong_population_forward_equals_member_forwards():
    task = env_task("Pong-li2018")
    net = task.policy_spec().build(0)
    assert isinstance(net, VBNConvNet)
    assert attach_reference(net, task.make, seed=0, n=16)
    assert net.reference.shape == (16, 4, 84, 84) and net.reference.dtype == torch.uint8
    sub = Subspace(net, d=8, projection="fastfood", seed=0)
    assert sub.D == 1_005_974
    thetas = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    frames = reference_batch(task.make, seed=1, n=6)  # real Pong frames, not noise
    x = torch.as_tensor(frames).reshape(3, 2, 4, 84, 84)
    with torch.no_grad():
        out = sub.population_forward(sub.population_params(thetas), x)
        assert out.shape == (3, 2, 6)
        for i in range(3):
            torch.testing.assert_close(out[i], sub(x[i], theta_d=thetas[i]), rtol=1e-4, atol=1e-5)
        # members differ: each normalises with its own statistics of the shared reference batch
        assert not torch.allclose(out[0], out[1])
        # The evaluator's path: each member's reference statistics computed once, then every step reads them.
        from rlsub.evaluation.population import PopulationEvaluator

        policy = PopulationEvaluator(task, sub, task.policy_spec())._policy(sub.population_params(thetas), 3, 2)
        torch.testing.assert_close(policy(x), out, rtol=1e-4, atol=1e-5)


def test_protocol_presets_default_to_their_method_and_apply_its_settings(tmp_path):
    from rlsub.cli.main import main
    from rlsub.results.store import Store

    out = tmp_path / "ip"
    assert main(["run", "--env", "InvertedPendulum-li2018", "--dim", "4", "--budget", "2000", "--eval-episodes", "2",
                 "--param", "popsize=4", "--out", str(out)]) == 0
    with Store(out, create=False) as s:
        (row,) = list(s.rows())
    assert row.method == "es" and row.D == 562 and row.network == "MLP 20-20"
    assert row.info["preset_params"] == {"l2": 0.005, "obs_norm": True}
    assert row.info["obs_norm"] is not None  # the protocol's observation normalisation really ran


def test_humanoid_protocol_runs_a_few_steps_and_replays(tmp_path, capsys):
    from rlsub.cli.main import main
    from rlsub.results.store import Store

    out = tmp_path / "h"
    assert main(["run", "--env", "Humanoid-li2018", "--dim", "50", "--budget", "1500", "--eval-episodes", "2",
                 "--param", "popsize=4", "--out", str(out)]) == 0
    with Store(out, create=False) as s:
        (row,) = list(s.rows())
    assert row.D == 166_673 and row.d == 50 and row.env_steps >= 1500
    capsys.readouterr()
    assert main(["replay", str(out / row.artifact)]) == 0
    assert f"replayed: {row.final_mean:.6g}" in capsys.readouterr().out


@pytest.mark.slow
def test_pong_protocol_runs_a_few_steps(tmp_path):
    from rlsub.tasks import run_trial
    from rlsub.trial import TrialConfig

    torch.set_num_threads(2)
    res = run_trial(TrialConfig("Pong-li2018", method="es", dim=100, projection="fastfood", budget=200,
                                eval_episodes=1, params=(("popsize", 2),)))
    assert res.D == 1_005_974 and res.d == 100 and res.env_steps >= 200


def test_a_revised_preset_gets_new_keys_and_fingerprints():
    """CartPole-v0-li2018 changed its protocol (revision 1, then its DQN engine in revision 2): its trials
    must never resume from, or pool with, trials of an older revision; revision 0 leaves every other
    task's keys as they were."""
    from rlsub.sweeps.spec import SweepSpec

    task = resolve_env("CartPole-v0-li2018")
    assert task.revision == 2 and resolve_env("CartPole-v1").revision == 0
    old = TrialConfig("CartPole-v0-li2018", method="dqn", dim=25, seed=0)
    new = dataclasses.replace(old, revision=2)
    assert old.key() != new.key() and old.fingerprint() != new.fingerprint()
    assert dataclasses.replace(old, revision=1).key() != new.key()
    assert TrialConfig.from_dict(new.to_dict()) == new and TrialConfig.from_dict(old.to_dict()).revision == 0
    assert "revision" not in old._identity()
    (planned,) = plan_sweep(SweepSpec(envs=["CartPole-v0-li2018"], methods=["dqn"], dims=[25], seeds=[0])).trials
    assert planned.revision == 2


def test_cartpole_protocol_builds_he_normal_theta0():
    import torch

    spec = env_task("CartPole-v0-li2018").policy_spec()
    assert spec.options == {"init": "he_normal"}
    net = spec.build(0)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    for lin in linears:
        std = (2.0 / lin.in_features) ** 0.5
        assert torch.all(lin.bias == 0) and lin.weight.abs().max() <= 2 * std + 1e-6
    # the 20x20 layer's 400 weights: std sqrt(2/20) shrunk by the 2-sigma truncation (~0.88)
    assert 0.8 * 0.316 < float(linears[1].weight.std()) < 0.316
    # other presets keep torch's init and an empty options dict (their solution files are unchanged)
    assert env_task("CartPole-v1").policy_spec().options == {}
    assert torch.equal(spec.build(0)[0].weight, net[0].weight)  # seeded


def test_a_config_of_another_revision_is_refused_before_anything_is_stored():
    from rlsub.errors import ConfigError
    from rlsub.execution.runner import execute

    with pytest.raises(ConfigError, match="revision 0 of CartPole-v0-li2018's protocol, this rlsub runs revision 2"):
        execute(TrialConfig("CartPole-v0-li2018", method="dqn", dim=2, seed=0, budget=200))
