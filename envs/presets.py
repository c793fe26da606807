"""Task presets: env id, policy architecture, episode cap, solved threshold and return range.

The return range (``return_low``, ``return_best``) normalises performance for d_int:
``(R - return_low) / (R_base - return_low)``, where R_base is a measured full-space baseline when
the store has one, else ``return_best`` (the documented best return of the env).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Data only: envs/li2018.py never imports this module, so there is no cycle.
from .li2018 import LI2018_PRESETS


@dataclass(frozen=True)
class AtariSettings:
    """How an ALE game is played and preprocessed; identical on the single-env and vector paths.

    Defaults are the standard Nature-DQN preprocessing (84×84 grayscale, frame skip 4 with max-pool
    over the last two frames, 4-frame stack, up to 30 no-op starts) with Machado et al. (2018)
    sticky actions. Rewards are never clipped and episodes never end on a life loss: rlsub scores
    the real game. There is no FIRE-on-reset (Gymnasium's ``AtariPreprocessing`` has none).
    """

    game: str
    """ALE ROM name in snake_case (``"pong"``)."""
    repeat_action_probability: float = 0.25
    """Sticky actions: probability that the emulator repeats the previous action on each frame.
    ``ALE/*-v5`` ids default to 0.25, ``*NoFrameskip-v4`` ids to 0.0; it changes scores."""
    frame_skip: int = 4
    noop_max: int = 30
    """Up to this many no-op actions after each reset (0: none; deterministic starts)."""
    screen_size: int = 84
    stack: int = 4
    grayscale: bool = True
    full_action_space: bool = False
    num_threads: int = 0
    """Threads of ``AtariVectorEnv`` (0: ALE's choice). Speed only; not part of the game."""

    def to_dict(self) -> dict[str, Any]:
        """The settings that define the game (recorded with a trial); ``num_threads`` excluded."""
        d = asdict(self)
        d.pop("num_threads")
        d.update(reward_clipping=False, terminal_on_life_loss=False, fire_reset=False)
        return d


@dataclass(frozen=True)
class EnvPreset:
    """Everything rlsub needs to know about a task beyond its Gymnasium id."""

    name: str
    """Name used on the command line (usually the Gymnasium id)."""
    env_id: str
    """Gymnasium id passed to ``gymnasium.make``."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the MLP policy."""
    activation: str = "tanh"
    max_episode_steps: int | None = None
    """Episode cap (None: the env's registered TimeLimit)."""
    solved_threshold: float | None = None
    """Mean return over the final evaluation episodes that counts as solved."""
    return_low: float | None = None
    """Lowest return (performance 0). None: not registered, so every trial measures a floor (the mean
    return of a uniformly random-action policy on its own evaluation episodes)."""
    return_best: float | None = None
    """Documented best return: the fallback baseline when none was measured."""
    budget: int = 200_000
    """Default env-step budget of one direct-search trial."""
    episodes: int = 2
    """Default training episodes per population member and generation."""
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    revision: int = 0
    """Bumped whenever the preset's protocol changes (settings, method params, init, default budget):
    trials record it (``TrialConfig.revision``), so a new revision's trials get new keys and
    fingerprints and never resume from, or pool with, the old ones."""
    init: str = "torch"
    """θ_0's initialisation for MLP policies (``rlsub.networks.MLP_INITS``): recorded in the policy
    spec's options when not torch's default."""
    family: str | None = None
    """Policy family (``"mlp"``, ``"cnn"``, ``"vbn_cnn"``); None: chosen from the observation space.
    ``hidden`` and ``activation`` apply to this family; an auto-chosen CNN uses the Nature-DQN head instead."""
    atari: AtariSettings | None = None
    """Set for ALE games: ``make``/``make_vec`` build the preprocessed single / vector envs."""
    wrappers: tuple[tuple[str, dict[str, Any]], ...] = ()
    """Wrappers applied in order by ``make``: (``gymnasium.wrappers`` name, ``module:attr`` or
    dotted path, kwargs)."""
    check: bool = False
    """Run Gymnasium's env checker once before use (plugged-in envs)."""
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Protocol hyper-parameters per method name, e.g. ``{"dqn": {"lr": 1e-4, "gamma": 0.95}}``: a trial of
    that method on this preset starts from them. Intended precedence (low to high): the method's config
    defaults, its subspace defaults, these, the trial's ``--param`` values. Names are the method config's
    field names (``DQNConfig``, ``ESConfig``, ...)."""
    protocol_method: str | None = None
    """The method the preset's published protocol uses (None: no protocol, rlsub's default)."""
    protocol_dims: tuple[int, ...] = ()
    """The d values the published protocol swept (empty: not documented)."""
    protocol_seeds: int | None = None
    """Runs per d in the published protocol (None: not documented)."""
    sources: dict[str, str] = field(default_factory=dict)
    """Where each setting comes from, keyed by field name (plus free keys such as ``gaps``: what the
    protocol does that rlsub cannot express). Filled for reproductions of published protocols."""


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


def _from_kwargs(kw: dict[str, Any]) -> EnvPreset:
    """An EnvPreset from plain keyword arguments (``atari`` given as AtariSettings kwargs)."""
    kw = dict(kw)
    atari = kw.pop("atari", None)
    return EnvPreset(**kw, atari=AtariSettings(**atari) if atari else None)


# Li et al. (2018)'s protocols (see envs/li2018.py for where every setting comes from).
PRESETS.update({p.name: p for p in map(_from_kwargs, LI2018_PRESETS)})

#: Documented return ranges of ALE games (return_low, return_best) used by id-resolved Atari tasks.
ATARI_RETURN_RANGES: dict[str, tuple[float, float]] = {"pong": (-21.0, 21.0)}
