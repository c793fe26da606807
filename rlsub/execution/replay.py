"""Rebuild a saved solution (θ_0 and P from its spec and seed) and re-evaluate it."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from rlsub.errors import ConfigError, SolutionError
from rlsub.solution import load_solution
from rlsub.tasks import resolve_task
from rlsub.tasks.base import EPISODE_RETURN
from rlsub.trial import TrialConfig


@dataclass
class ReplayReport:
    """Outcome of re-evaluating a solution next to what the trial recorded."""

    path: str
    env: str
    D: int
    d: int
    returns: list[float]
    recorded: float | None
    same_seeds: bool
    measure: str = EPISODE_RETURN
    recorded_measure: str | None = None
    """What the recorded value measured when it is not the replayed measure (e.g. training episodes)."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.env}, D={self.D}, d={self.d} (compression {self.D / self.d:.1f}x)",
        ]
        if len(self.returns) == 1 and self.same_seeds:
            lines.append(f"  replayed: {self.measure} {self.mean:.6g}")
        else:
            lines.append(
                f"  replayed: {self.mean:.6g} (mean of {len(self.returns)} episodes"
                + (", the trial's own evaluation seeds)" if self.same_seeds else ", fresh seeds)")
            )
        if self.recorded is not None:
            what = f" ({self.recorded_measure}; not comparable with the replay)" if self.recorded_measure else ""
            lines.append(f"  recorded: {self.recorded:.6g}{what}")
        return "\n".join(lines)


def replay(path: str | os.PathLike, episodes: int | None = None, seed: int = 0,
           data_dir: str | None = None) -> ReplayReport:
    """Re-evaluate a solution; without ``episodes`` it reuses the trial's evaluation seeds."""
    sol = load_solution(path)
    try:
        config = TrialConfig.from_dict(sol.config)
    except (TypeError, ValueError, ConfigError) as e:
        raise SolutionError(f"solution file {sol.path}: bad trial config: {e}") from None
    task = resolve_task(config.env, config.env_def)
    if config.revision != task.revision:
        warnings.warn(f"{sol.path}: trained under revision {config.revision} of {config.env}'s protocol, this rlsub "
                      f"has revision {task.revision}: the replay rebuilds today's task and may not match", stacklevel=2)
    returns = task.replay(config, sol, episodes, seed, data_dir)
    measure = task.normalisation().measure
    recorded_measure = sol.metrics.get("measure")
    return ReplayReport(str(sol.path), config.env, sol.D, sol.d, returns, sol.metrics.get("final_mean"),
                        episodes is None, measure, recorded_measure if recorded_measure not in (None, measure) else None)
