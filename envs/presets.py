"""Task presets: env id, policy architecture, episode cap, solved threshold and return range.

``PRESETS`` maps each preset name to its ``EnvPreset`` (``envs/preset_types.py``): rlsub's own tasks,
here, and Li et al. (2018)'s protocols (``envs/li2018.py``).
"""

from __future__ import annotations

from .li2018 import LI2018_PRESETS
from .preset_types import AtariSettings, EnvPreset

PRESETS: dict[str, EnvPreset] = {
    p.name: p
    for p in [
        EnvPreset(
            name="CartPole-v1",
            env_id="CartPole-v1",
            max_episode_steps=500,
            solved_threshold=475.0,
            return_low=0.0,
            return_best=500.0,
            budget=100_000,
            episodes=1,
            description="balance a pole on a cart; discrete actions, 4-d state, 500-step episodes",
        ),
        EnvPreset(
            name="InvertedPendulum-v5",
            env_id="InvertedPendulum-v5",
            max_episode_steps=1000,
            solved_threshold=950.0,
            return_low=0.0,
            return_best=1000.0,
            budget=300_000,
            episodes=2,
            description="MuJoCo inverted pendulum; 1-d continuous action, 4-d state, 1000-step episodes",
        ),
        EnvPreset(
            name="Pong",
            env_id="ALE/Pong-v5",
            family="cnn",
            hidden=(512,),
            activation="relu",
            # 108,000 frames (30 min of play) at frame skip 4: ALE's own v5 episode cap.
            max_episode_steps=27_000,
            solved_threshold=18.0,
            return_low=-21.0,
            return_best=21.0,
            budget=5_000_000,
            episodes=1,
            atari=AtariSettings(game="pong", repeat_action_probability=0.25),
            description="Atari Pong from pixels (84x84x4 grayscale stack, frame skip 4, sticky actions 0.25, "
            "no-op starts); Nature CNN, 6 actions",
        ),
        EnvPreset(
            name="PointMass-v0",
            env_id="rlsub/PointMass-v0",
            hidden=(16,),
            max_episode_steps=100,
            # Measured (200 episodes): standing still -107, a tuned PD controller -6.
            solved_threshold=-15.0,
            return_low=-107.0,
            return_best=-6.0,
            budget=100_000,
            episodes=4,
            description="reach a random goal with a 2-D point mass; 2-d continuous force, 6-d state, 100 steps",
        ),
    ]
}


# Li et al. (2018)'s protocols (see envs/li2018.py for where every setting comes from).
PRESETS.update({p.name: p for p in LI2018_PRESETS})

#: Documented return ranges of ALE games (return_low, return_best) used by id-resolved Atari tasks.
ATARI_RETURN_RANGES: dict[str, tuple[float, float]] = {"pong": (-21.0, 21.0)}

__all__ = ["ATARI_RETURN_RANGES", "PRESETS", "AtariSettings", "EnvPreset"]
