"""What a task preset says: ``EnvPreset`` (env id, policy architecture, episode cap, solved threshold,
return range, protocol) and ``AtariSettings`` (how an ALE game is played).

Kept apart from the tables (``envs/presets.py``, ``envs/li2018.py``) so that every table builds the
same dataclass and the tables import this module, never one another.

The return range (``return_low``, ``return_best``) normalises performance for d_int:
``(R - return_low) / (R_base - return_low)``, where R_base is a measured full-space baseline when
the store has one, else ``return_best`` (the documented best return of the env).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    """θ_0's initialisation for MLP policies ([`rlsub.policies.networks.MLP_INITS`][rlsub.policies.networks.MLP_INITS]): recorded in the policy
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


__all__ = ["AtariSettings", "EnvPreset"]
