"""One evaluation inside a ``SlotRollout`` (``RolloutRequest``: its jobs, seeds and returns) and its result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from rlsub.evaluation.slot_mlp import MLPWeights


@dataclass
class EvalResult:
    """Returns of each member's episodes (``[pop, episodes]``) and env steps consumed."""

    returns: np.ndarray
    steps: int
    lengths: np.ndarray | None = None
    """Each episode's env steps (``[pop, episodes]``), where the path records them (the scheduled
    rollout does; None elsewhere): ARS's ``alive_bonus_offset`` needs them."""

    @property
    def fitness(self) -> np.ndarray:
        """Mean return per member."""
        return self.returns.mean(axis=1)


class RolloutRequest:
    """One evaluation inside a ``SlotRollout``: ``rows`` members × ``episodes`` episodes.

    Job ``j = row * episodes + e`` plays an episode seeded ``seeds[j]`` with member ``row``'s
    parameters. ``obs_norm`` = (mean, std): observations are standardised as
    ``((obs - mean) / std).astype(float32)`` before the forward; ``record`` keeps the raw
    observations the policy acted on (``observations``, ordered by job, then time step, so the
    order does not depend on scheduling). ``owner`` is free for the caller ([`rlsub.tasks.lockstep`][rlsub.tasks.lockstep]).
    """

    def __init__(self, weights: MLPWeights, rows: int, episodes: int, seeds: np.ndarray,
                 obs_norm: tuple[np.ndarray, np.ndarray] | None = None, record: bool = False,
                 owner: object = None) -> None:
        self.weights, self.rows, self.episodes = weights, int(rows), int(episodes)
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.n_jobs = self.rows * self.episodes
        if len(self.seeds) != self.n_jobs:
            raise ValueError(f"{self.n_jobs} jobs but {len(self.seeds)} seeds")
        self.obs_norm, self.record, self.owner = obs_norm, record, owner
        self.returns = np.zeros(self.n_jobs, dtype=np.float64)
        self.lengths = np.zeros(self.n_jobs, dtype=np.int64)
        self.steps = 0
        self.next_job = 0
        self.remaining = self.n_jobs
        self.error: Exception | None = None
        self.observations: np.ndarray | None = None
        self._seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def done(self) -> bool:
        return self.remaining == 0 or self.error is not None

    def result(self) -> EvalResult:
        """The evaluation's returns ``[rows, episodes]`` and counted steps (raises its error, if any)."""
        if self.error is not None:
            raise self.error
        return EvalResult(self.returns.reshape(self.rows, self.episodes), self.steps,
                          self.lengths.reshape(self.rows, self.episodes))

    def _complete(self) -> None:
        if self.record and self._seen:
            jobs = np.concatenate([j for j, _, _ in self._seen])
            ts = np.concatenate([t for _, t, _ in self._seen])
            obs = np.concatenate([o for _, _, o in self._seen])
            self.observations = obs[np.lexsort((ts, jobs))]
        self._seen = []


__all__ = ["EvalResult", "RolloutRequest"]
