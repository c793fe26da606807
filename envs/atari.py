"""ALE games from pixels: one preprocessing, two implementations that play the same game.

* Single env: ``gym.make(id, frameskip=1)`` → ``AtariPreprocessing`` (OpenCV resize, max-pool of
  the last two skipped frames, no-op starts) → ``FrameStackObservation(padding_type="zero")`` →
  ``TimeLimit``.
* Vector env: ale_py's ``AtariVectorEnv`` (C++ threads, preprocessing built in), NEXT_STEP autoreset.

Both give ``[stack, H, W]`` uint8 observations (``[n, stack, H, W]`` batched) with the stack padded
by zero frames after a reset, unclipped rewards summed over the skipped frames, no episodic life,
no FIRE on reset and the same sticky-action probability. The vector env's defaults (reward
clipping, FIRE reset, no sticky actions) are all overridden explicitly. Episodes truncate after
``max_episode_steps`` agent steps on both paths (the no-op frames of a reset do not count).

With ``noop_max=0`` and no sticky actions the two paths produce identical frames and rewards for
the same actions. Otherwise they draw no-ops and sticky repeats from different RNGs (Python
vs. C++ seeding), so episodes agree in distribution, not frame by frame.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from rlsub.errors import ConfigError

from .presets import ATARI_RETURN_RANGES, AtariSettings, EnvPreset

ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"
#: ALE seeds are int32; keep every per-env seed (base + index) inside that range.
_SEED_MOD = 2**31 - 1


def register_ale() -> None:
    """Register the ``ALE/*`` and ``*-v4`` ids (ale-py ships the ROMs; no download)."""
    try:
        import ale_py
    except ImportError as e:  # pragma: no cover - ale-py is a dependency
        raise ConfigError(f"Atari games need ale-py: {e}") from None
    gym.register_envs(ale_py)


def is_atari(env_id: str) -> bool:
    """True when ``env_id`` is registered with ale_py's AtariEnv entry point."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return False
    return spec.entry_point == ATARI_ENTRY_POINT


def atari_preset(env_id: str, name: str | None = None) -> EnvPreset:
    """A preset for any registered ALE id: its game and sticky-action default, standard preprocessing.

    ``ALE/Pong-v5`` gets sticky actions 0.25 (its registered default) and ``PongNoFrameskip-v4`` 0.0;
    the id's own frame skip is replaced by the preprocessing's 4 (with max-pooling).
    """
    spec = gym.spec(env_id)
    kw = spec.kwargs
    game = kw.get("game")
    if not game:
        raise ConfigError(f"{env_id}: ALE id without a game name")
    settings = AtariSettings(
        game=str(game),
        repeat_action_probability=float(kw.get("repeat_action_probability", 0.25)),
        full_action_space=bool(kw.get("full_action_space", False)),
    )
    low, best = ATARI_RETURN_RANGES.get(settings.game, (0.0, None))
    return EnvPreset(
        name=name or env_id,
        env_id=env_id,
        family="cnn",
        hidden=(512,),
        activation="relu",
        max_episode_steps=int(kw.get("max_num_frames_per_episode", 108_000)) // settings.frame_skip,
        return_low=low,
        return_best=best,
        budget=5_000_000,
        episodes=1,
        atari=settings,
        description=f"Atari {settings.game} from pixels (standard preprocessing)",
    )


def make_atari(env_id: str, settings: AtariSettings, max_episode_steps: int, **kwargs: Any) -> gym.Env:
    """One preprocessed env (Gymnasium wrappers); observations ``[stack, H, W]`` uint8."""
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

    register_ale()
    if not settings.grayscale:
        raise ConfigError("rlsub's Atari path is grayscale only (both paths must give [stack, H, W])")
    base = gym.make(
        env_id,
        frameskip=1,  # AtariPreprocessing skips frames itself (and max-pools the last two)
        repeat_action_probability=settings.repeat_action_probability,
        full_action_space=settings.full_action_space,
        # Never truncate before TimeLimit: no-op frames do not count (as in AtariVectorEnv).
        max_num_frames_per_episode=max_episode_steps * settings.frame_skip + settings.noop_max,
        **kwargs,
    )
    env = AtariPreprocessing(
        base,
        noop_max=settings.noop_max,
        frame_skip=settings.frame_skip,
        screen_size=settings.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    # Zero padding matches AtariVectorEnv's stack right after a reset.
    env = FrameStackObservation(env, settings.stack, padding_type="zero")
    return TimeLimit(env, max_episode_steps)


def _vector_env_class():
    from ale_py.vector_env import AtariVectorEnv

    class SeededAtariVectorEnv(AtariVectorEnv):
        """AtariVectorEnv whose integer reset seed may be any non-negative int.

        ale_py seeds env i with ``seed + i`` as an int32 and rejects larger values; rlsub's derived
        seeds span [0, 2^31), so wrap each per-env seed into range.
        """

        def reset(self, *, seed: int | np.ndarray | None = None, options: dict[str, Any] | None = None):
            if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
                count = self.num_envs
                if options is not None and "reset_mask" in options:
                    count = int(np.count_nonzero(options["reset_mask"]))
                seed = (int(seed) + np.arange(count, dtype=np.int64)) % _SEED_MOD
            return super().reset(seed=seed, options=options)

    return SeededAtariVectorEnv


def make_atari_vec(settings: AtariSettings, num_envs: int, max_episode_steps: int) -> gym.vector.VectorEnv:
    """``num_envs`` preprocessed envs in one ``AtariVectorEnv``; observations ``[n, stack, H, W]`` uint8."""
    if not settings.grayscale:
        raise ConfigError("rlsub's Atari path is grayscale only (both paths must give [stack, H, W])")
    cls = _vector_env_class()
    return cls(
        settings.game,
        num_envs,
        num_threads=settings.num_threads,
        max_num_frames_per_episode=max_episode_steps * settings.frame_skip,
        repeat_action_probability=settings.repeat_action_probability,
        full_action_space=settings.full_action_space,
        autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
        img_height=settings.screen_size,
        img_width=settings.screen_size,
        grayscale=True,
        stack_num=settings.stack,
        frameskip=settings.frame_skip,
        maxpool=True,
        noop_max=settings.noop_max,
        episodic_life=False,
        life_loss_info=False,
        reward_clipping=False,  # evaluation scores the real game
        use_fire_reset=False,  # AtariPreprocessing has no FIRE reset either
    )


__all__ = ["atari_preset", "is_atari", "make_atari", "make_atari_vec", "register_ale"]
