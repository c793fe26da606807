"""MinAtar games (Young & Tian 2019) as Gymnasium envs whose frames rlsub's CNN policy reads.

MinAtar hands out 10×10×C boolean planes (one channel per object kind). rlsub's ``cnn`` family
reads uint8 images, so each frame becomes a channels-first uint8 array with 0 and 255 (the CNN's
1/255 input scale turns it back into 0/1). A 10×10 frame gets rlsub's small conv stack (16 3×3
filters, stride 1): with ``hidden = [128]`` it is the network of the MinAtar paper's DQN.

Use it as a plug-in, e.g. in a sweep file::

    [[envs]]
    id = "MinAtar-Breakout"
    entry_point = "rlsub.envs.minatar:MinAtarEnv"
    kwargs = { game = "breakout" }
    family = "cnn"
    hidden = [128]

Needs the optional extra ``rlsub[minatar]``.
"""

from __future__ import annotations

import logging
from typing import Any

import gymnasium as gym
import numpy as np

from rlsub.errors import ConfigError

#: The games MinAtar ships (its module names).
GAMES = ("asterix", "breakout", "freeway", "seaquest", "space_invaders")


def _environment_class() -> Any:
    """MinAtar's ``Environment``; imported on first use so that MinAtar stays an optional extra."""
    # MinAtar logs a root-logger warning at import when seaborn (its display only) is missing.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        from minatar import Environment
    except ImportError as e:
        raise ConfigError(f"MinAtar is not installed ({e}): pip install 'rlsub[minatar]'") from None
    finally:
        logging.disable(previous)
    return Environment


class MinAtarEnv(gym.Env):
    """One MinAtar game with uint8 channels-first frames (values 0 and 255).

    Randomness enters through ``reset(seed=...)``: every reset reseeds MinAtar's own generator
    (spawns and sticky actions) from the env's ``np_random``, so a seeded reset fixes the episode.

    Example::

        env = MinAtarEnv("breakout")
        obs, _ = env.reset(seed=0)   # obs.shape == (4, 10, 10), dtype uint8
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, game: str, sticky_action_prob: float = 0.1, difficulty_ramping: bool = True,
                 minimal_actions: bool = True) -> None:
        if game not in GAMES:
            raise ConfigError(f"unknown MinAtar game {game!r}; choose one of {', '.join(GAMES)}")
        self.game = _environment_class()(game, sticky_action_prob=sticky_action_prob,
                                         difficulty_ramping=difficulty_ramping)
        n = self.game.num_actions()
        self.actions = list(self.game.minimal_action_set()) if minimal_actions else list(range(n))
        h, w, c = self.game.state_shape()
        self.observation_space = gym.spaces.Box(0, 255, shape=(c, h, w), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(len(self.actions))

    def _frame(self) -> np.ndarray:
        state = np.asarray(self.game.state(), dtype=bool)
        return np.ascontiguousarray(state.transpose(2, 0, 1)).astype(np.uint8) * np.uint8(255)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.game.seed(int(self.np_random.integers(2**31 - 1)))
        self.game.last_action = 0  # else a sticky first action repeats the previous episode's last one
        self.game.reset()
        return self._frame(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward, done = self.game.act(self.actions[int(action)])
        return self._frame(), float(reward), bool(done), False, {}
