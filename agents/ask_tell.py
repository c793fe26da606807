"""The ask/tell protocol every direct-search optimizer over θ_d implements.

rlsub *maximises* return. An optimizer receives fitness values (higher is better); adapters for
minimisers (pycma) negate internally and nowhere else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class DirectSearch(ABC):
    """Ask for a population, tell its fitness, repeat until ``stop()`` or the budget runs out.

    Example:
        >>> opt = CMAES(d=8, seed=0)
        >>> while not opt.stop():
        ...     X = opt.ask()                      # [pop, d]
        ...     opt.tell(X, fitness(X))            # higher is better
        >>> opt.mean                              # the current best guess of θ_d
    """

    name: str = "base"
    # Subclasses keep ``self._mean`` (the ``mean`` property) current and call ``_note_best`` in ``tell``.

    def __init__(self, d: int, seed: int) -> None:
        self.d = int(d)
        self.seed = int(seed)
        self._mean = np.zeros(self.d)
        self._best_x = np.zeros(self.d)
        self._best_f = -np.inf

    @abstractmethod
    def ask(self) -> np.ndarray:
        """Candidates to evaluate, shape ``[pop, d]``."""

    @abstractmethod
    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        """Report the fitness (higher is better) of the candidates from the last ``ask``."""

    @property
    def mean(self) -> np.ndarray:
        """Centre of the search distribution: the optimizer's current estimate of θ_d."""
        return self._mean

    @property
    def best(self) -> tuple[np.ndarray, float]:
        """Best candidate seen so far and its (noisy, training) fitness."""
        return self._best_x, self._best_f

    def _note_best(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        """Keep the best of ``candidates`` if it beats every earlier one (call from ``tell``)."""
        i = int(np.argmax(fitness))
        if fitness[i] > self._best_f:
            self._best_f, self._best_x = float(fitness[i]), np.array(candidates[i])

    def stop(self) -> bool:
        """True when the optimizer has converged and cannot continue (no restart left)."""
        return False

    def info(self) -> dict:
        """Facts worth recording in the trial (restarts, mode switches...)."""
        return {}
