"""Task presets: env id, policy architecture, episode cap, solved threshold and return range.

The return range (``return_low``, ``return_best``) normalises performance for d_int:
``(R - return_low) / (R_base - return_low)``, where R_base is a measured full-space baseline when
the store has one, else ``return_best`` (the documented best return of the env).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    return_low: float = 0.0
    """Lowest achievable return (performance 0)."""
    return_best: float | None = None
    """Documented best return: the fallback baseline when none was measured."""
    budget: int = 200_000
    """Default env-step budget of one direct-search trial."""
    episodes: int = 2
    """Default training episodes per population member and generation."""
    make_kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


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
            budget=150_000,
            episodes=2,
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
    ]
}
