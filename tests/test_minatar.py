"""rlsub.envs.minatar: MinAtar frames as uint8 CHW images that rlsub's CNN policy reads."""

import numpy as np
import pytest

pytest.importorskip("minatar")

from rlsub.envs import register_from_config  # noqa: E402
from rlsub.envs.minatar import GAMES, MinAtarEnv  # noqa: E402
from rlsub.errors import ConfigError  # noqa: E402
from rlsub.tasks import resolve_task  # noqa: E402


@pytest.mark.parametrize("game", GAMES)
def test_frames_are_channels_first_uint8_planes(game):
    env = MinAtarEnv(game)
    obs, _ = env.reset(seed=0)
    h, w, c = env.game.state_shape()
    assert obs.shape == (c, h, w) == env.observation_space.shape
    assert obs.dtype == np.uint8
    assert set(np.unique(obs)) <= {0, 255}
    # The same planes MinAtar holds, moved channels-first.
    np.testing.assert_array_equal(obs, np.moveaxis(env.game.state(), 2, 0).astype(np.uint8) * 255)


def _episode(seed, steps=60):
    env = MinAtarEnv("breakout")
    obs, _ = env.reset(seed=seed)
    frames, rewards = [obs], []
    actions = np.random.default_rng(123).integers(env.action_space.n, size=steps)
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        frames.append(obs)
        rewards.append(r)
        if term:
            break
    return np.stack(frames), rewards


def test_seeded_reset_fixes_the_episode():
    a, ra = _episode(3)
    b, rb = _episode(3)
    np.testing.assert_array_equal(a, b)
    assert ra == rb
    # Breakout's ball starts at a random side: other seeds give other episodes.
    assert len({_episode(s)[0].tobytes() for s in range(8)}) > 1


def test_unknown_game_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown MinAtar game"):
        MinAtarEnv("pong")


def test_cnn_policy_is_the_minatar_network():
    name = register_from_config({"id": "TestMinAtarBreakout-v0", "entry_point": "rlsub.envs.minatar:MinAtarEnv",
                                 "kwargs": {"game": "breakout"}, "family": "cnn", "hidden": [128],
                                 "max_episode_steps": 100})
    task = resolve_task(name)
    # conv 4→16 (3×3) on 10×10 → 16·8·8 features → 128 → 3 actions (Young & Tian 2019's DQN network)
    expected = (4 * 16 * 9 + 16) + (16 * 8 * 8 * 128 + 128) + (128 * 3 + 3)
    assert task.native_dimension((128,), "cnn") == expected
