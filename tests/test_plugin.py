"""Plugging in envs: by id, by module:Class, by TOML table; env checker; space errors and wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from rlsub.envs import PRESETS, FlattenAction, register_from_config, resolve_env
from rlsub.envs.plugin import plugin_id
from rlsub.errors import ConfigError
from rlsub.tasks.rl import env_task


# -- small envs used as plug-ins (importable as test_plugin:Name) ----------------------------
class _Base(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, obs_space: gym.Space | None = None, act_space: gym.Space | None = None) -> None:
        self.observation_space = obs_space or gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.action_space = act_space or gym.spaces.Discrete(2)
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample(), {}

    def step(self, action):
        self._t += 1
        return self.observation_space.sample(), 1.0, self._t >= 5, False, {}


class DictObsEnv(_Base):
    def __init__(self):
        super().__init__(gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,), np.float32), "b": gym.spaces.Discrete(3)}))


class TupleObsEnv(_Base):
    def __init__(self):
        super().__init__(gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,), np.float32), gym.spaces.Discrete(3))))


class DiscreteObsEnv(_Base):
    def __init__(self):
        super().__init__(gym.spaces.Discrete(5))


class MultiBinaryObsEnv(_Base):
    def __init__(self):
        super().__init__(gym.spaces.MultiBinary(4))


class MultiBinaryActEnv(_Base):
    def __init__(self):
        super().__init__(act_space=gym.spaces.MultiBinary(3))


class DictActEnv(_Base):
    def __init__(self):
        super().__init__(act_space=gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (2,), np.float32),
                                                    "y": gym.spaces.Box(0, 2, (1,), np.float32)}))


class UnboundedActEnv(_Base):
    def __init__(self):
        super().__init__(act_space=gym.spaces.Box(-np.inf, np.inf, (2,), np.float32))


class ImageEnv(_Base):
    def __init__(self):
        super().__init__(gym.spaces.Box(0, 255, (40, 40, 3), np.uint8), gym.spaces.Discrete(4))


class BrokenResetEnv(_Base):
    """reset returns the observation alone (Gym 0.21 style): the env checker rejects it."""

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample()


# -- plug-in by id / module:Class ------------------------------------------------------------
def test_plug_in_by_registered_id():
    task = env_task("rlsub/PointMass-v0")
    assert task.env_id == "rlsub/PointMass-v0" and task.max_episode_steps == 100
    spec = task.policy_spec()
    assert spec.family == "mlp" and spec.obs_shape == (6,) and spec.action.kind == "box"


def test_plug_in_by_module_class():
    task = resolve_env("rlsub.envs.point_mass:PointMassEnv")
    assert task.env_id == plugin_id("rlsub.envs.point_mass:PointMassEnv")
    assert task.name == "rlsub.envs.point_mass:PointMassEnv"
    env = task.make()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (6,)
    env.close()
    # The env ends its own episodes at 100 steps; the vector path runs it.
    vec = task.make_vec(2)
    vec.reset(seed=0)
    for _ in range(100):
        *_, trunc, _ = vec.step(np.zeros((2, 2), dtype=np.float32))
    assert trunc.all()
    vec.close()
    assert resolve_env("rlsub.envs.point_mass:PointMassEnv").env_id == task.env_id  # idempotent


def test_gymnasium_module_colon_id_form():
    task = resolve_env("rlsub.envs.point_mass:rlsub/PointMass-v0")
    assert task.env_id == "rlsub/PointMass-v0"


def test_point_mass_preset():
    task = env_task("PointMass-v0")
    assert task.preset.return_low == -107.0 and task.preset.solved_threshold == -15.0
    assert task.policy_spec().hidden == (16,)


@pytest.mark.parametrize(
    "name,match",
    [
        ("no_such_module_xyz:Env", "cannot import module"),
        ("rlsub.envs.point_mass:NoSuchEnv", "has no attribute"),
        ("rlsub.envs.point_mass:DT", "not a gym.Env class"),
        ("NoSuchEnv-v0", "unknown environment"),
    ],
)
def test_bad_plugins(name, match):
    with pytest.raises(ConfigError, match=match):
        resolve_env(name)


def test_env_checker_failure_is_a_config_error():
    with pytest.raises(ConfigError, match="env checker"):
        resolve_env("test_plugin:BrokenResetEnv")


# -- spaces --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,space,wrapper",
    [
        ("DictObsEnv", "Dict", "FlattenObservation"),
        ("TupleObsEnv", "Tuple", "FlattenObservation"),
        ("DiscreteObsEnv", "Discrete", "FlattenObservation"),
        ("MultiBinaryObsEnv", "MultiBinary", "FlattenObservation"),
        ("MultiBinaryActEnv", "MultiBinary", "FlattenAction"),
        ("DictActEnv", "Dict", "FlattenAction"),
        ("UnboundedActEnv", "unbounded", "BoundAction"),
    ],
)
def test_unsupported_space_errors_name_space_and_wrapper(cls, space, wrapper):
    with pytest.raises(ConfigError) as err:
        resolve_env(f"test_plugin:{cls}")
    assert space in str(err.value) and wrapper in str(err.value)


def test_flatten_action_wrappers():
    env = FlattenAction(MultiBinaryActEnv())
    assert env.action_space == gym.spaces.Discrete(8)
    np.testing.assert_array_equal(env.action(5), [1, 0, 1])
    env = FlattenAction(DictActEnv())
    assert env.action_space.shape == (3,)
    out = env.action(np.array([0.1, 0.2, 1.5], dtype=np.float32))
    assert set(out) == {"x", "y"} and out["y"].shape == (1,)


def test_bound_action_fixes_an_unbounded_box():
    name = register_from_config({"id": "TestUnboundedFixed-v0", "base": "test_plugin:UnboundedActEnv",
                                 "wrappers": [{"name": "rlsub.envs.plugin:BoundAction", "kwargs": {"low": -3, "high": 3}}]})
    assert env_task(name).policy_spec().action.high == (3.0, 3.0)


def test_image_observations_pick_the_cnn():
    task = env_task("test_plugin:ImageEnv")
    spec = task.policy_spec()
    assert spec.family == "cnn" and spec.options["layout"] == "hwc" and spec.action.n == 4
    assert task.policy_spec(family="mlp").family == "mlp"  # the config may name the family


# -- TOML registration -----------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:.*precision lowered")  # RescaleAction builds float64 bounds
def test_register_from_config_entry_point_with_kwargs_and_wrappers():
    table = {
        "id": "TestPointMassLong-v0",
        "entry_point": "rlsub.envs.point_mass:PointMassEnv",
        "kwargs": {"max_steps": 30},
        "max_episode_steps": 30,
        "wrappers": [{"name": "RescaleAction", "kwargs": {"min_action": -2.0, "max_action": 2.0}}],
        "hidden": [8],
        "return_low": -40.0,
    }
    name = register_from_config(table)
    assert name == "TestPointMassLong-v0"
    assert register_from_config(dict(table)) == name  # same table again: no-op
    task = env_task(name)
    assert task.max_episode_steps == 30 and task.policy_spec().hidden == (8,)
    assert task.settings()["wrappers"] == [["RescaleAction", {"min_action": -2.0, "max_action": 2.0}]]
    assert task.policy_spec().action.low == (-2.0, -2.0)
    env = task.make()
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        if env.step(np.array([2.0, -2.0], dtype=np.float32))[3]:
            break
    assert steps == 30
    env.close()
    with pytest.raises(ConfigError, match="different configuration"):
        register_from_config({**table, "return_low": -50.0})


def test_register_from_config_base_with_wrapper_fixes_a_bad_space():
    name = register_from_config({"id": "TestMultiBinaryFlat-v0", "base": "test_plugin:MultiBinaryActEnv",
                                 "wrappers": [{"name": "rlsub.envs.plugin:FlattenAction"}]})
    spec = env_task(name).policy_spec()
    assert spec.action.kind == "discrete" and spec.action.n == 8
    assert PRESETS[name].check


def test_register_from_config_base_atari_overrides():
    name = register_from_config({"id": "TestPongShort", "base": "Pong", "max_episode_steps": 10})
    task = resolve_env(name)
    assert task.max_episode_steps == 10 and task.preset.atari is not None
    assert task.preset.return_low == -21.0


@pytest.mark.parametrize(
    "table,match",
    [
        ({"id": "X-v0"}, "exactly one of"),
        ({"id": "X-v0", "base": "CartPole-v1", "entry_point": "a:b"}, "exactly one of"),
        ({"id": "a:b", "base": "CartPole-v1"}, "without ':'"),
        ({"id": "X-v0", "base": "CartPole-v1", "colour": 1}, "unknown keys"),
        ({"id": "X-v0", "base": "CartPole-v1", "wrappers": [{"name": "NoSuchWrapper"}]}, "unknown wrapper"),
        ({"id": "X-v0", "base": "CartPole-v1", "wrappers": "ClipAction"}, "array of tables"),
        ({"id": "X-v0", "base": "CartPole-v1", "family": "rnn"}, "family"),
        ({"id": "CartPole-v1", "base": "CartPole-v1"}, "already"),
        ({"id": "rlsub/PointMass-v0", "base": "CartPole-v1"}, "already names"),
        ({"id": "X-v0", "entry_point": "no_such_mod_q:Env"}, "cannot import"),
    ],
)
def test_register_from_config_errors(table, match):
    with pytest.raises(ConfigError, match=match):
        register_from_config(table)


def test_mujoco_warnings_are_shown_once_not_once_per_env_copy():
    """Gymnasium's half_cheetah.xml makes MuJoCo warn on every compile; a sweep compiles one model per copy."""
    pytest.importorskip("mujoco")
    import warnings

    from rlsub.envs.plugin import make_gym

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        for _ in range(3):
            make_gym("HalfCheetah-v5").close()
    mujoco_lines = [w for w in seen if "MuJoCo: " in str(w.message)]
    assert len(mujoco_lines) == 1 and "settotalmass" in str(mujoco_lines[0].message)
