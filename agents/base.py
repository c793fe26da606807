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

    def __init__(self, d: int, seed: int) -> None:
        self.d = int(d)
        self.seed = int(seed)

    @abstractmethod
    def ask(self) -> np.ndarray:
        """Candidates to evaluate, shape ``[pop, d]``."""

    @abstractmethod
    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> None:
        """Report the fitness (higher is better) of the candidates from the last ``ask``."""

    @property
    @abstractmethod
    def mean(self) -> np.ndarray:
        """Centre of the search distribution: the optimizer's current estimate of θ_d."""

    def stop(self) -> bool:
        """True when the optimizer has converged and cannot continue (no restart left)."""
        return False

    def info(self) -> dict:
        """Facts worth recording in the trial (restarts, mode switches...)."""
        return {}
