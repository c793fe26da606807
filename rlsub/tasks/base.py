"""The Task protocol: what rlsub measures, for RL envs and supervised datasets alike.

A task builds the network a trial trains for (seed, hidden sizes, family), trains and evaluates θ_d
through a method, and says how its performance is normalised. The runner, replay, sweeps and the
CLI only talk to this protocol ([`rlsub.tasks.resolve_task`][rlsub.tasks.resolve_task] finds the task for a name); they never
ask which kind of task they hold.

Implementations, one file per kind in ``rlsub/tasks/``: [`rlsub.tasks.rl.EnvTask`][rlsub.tasks.rl.EnvTask] (presets,
Gymnasium ids, ``module:Class``, TOML registrations; performance = mean episode return) and
[`rlsub.tasks.supervised.SupervisedTask`][rlsub.tasks.supervised.SupervisedTask] (performance = test accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rlsub.errors import NonFiniteReturn
    from rlsub.solution import Solution
    from rlsub.trial import TrialConfig, TrialResult

#: Source of an R_low measured by a random-action policy (the convention of random-normalised Atari scores).
RANDOM_FLOOR = "measured: random policy"
#: The tasks' own measures (``Normalisation.measure``): a final test on fresh episodes / the test split.
EPISODE_RETURN = "mean episode return"
TEST_ACCURACY = "test accuracy"


@dataclass(frozen=True)
class Normalisation:
    """How a task's performance becomes ``(R - R_low) / (R_base - R_low)``.

    ``low`` None means "not registered": every trial then measures its own floor (``RANDOM_FLOOR``).
    ``best`` is the documented best performance, the baseline when no full-space run was measured.
    """

    measure: str
    """What R is, e.g. ``mean episode return`` or ``test accuracy``."""
    low: float | None
    low_source: str
    best: float | None
    best_source: str
    solved: float | None
    """Performance that counts as solved (early stop; solved counts in ``rlsub dint``)."""


@runtime_checkable
class Task(Protocol):
    """A task to measure. ``name`` is what ``--env`` (or ``--task``) gave."""

    name: str
    kind: str
    """``rl`` or ``supervised``: recorded with each trial as a description, never branched on."""
    batches_seeds: bool
    """Whether ``run_stream`` trains trials that differ only in seed faster together than one by one."""
    revision: int
    """Revision of the task's own protocol (a preset's settings and method params): trials record it,
    so those of different revisions never share a key or a fingerprint."""

    def settings(self) -> dict[str, Any]:
        """Everything that defines the problem solved (part of each trial's experiment fingerprint)."""

    def normalisation(self) -> Normalisation:
        """R_low, R_best (with sources) and the solved threshold."""

    def method_names(self) -> tuple[str, ...]:
        """The ``--method`` values that can train this task; the first is the default."""

    def method_params(self, method: str) -> type:
        """The hyper-parameter dataclass of ``method`` (``--param`` values are typed against it)."""

    def is_population_method(self, method: str) -> bool:
        """Whether ``method`` evaluates populations of θ_d (it picks the projection rule)."""

    def native_dimension(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> int:
        """D: the parameter count of the trained network."""

    def network_label(self, hidden: tuple[int, ...] | None = None, family: str | None = None,
                      init: str | None = None) -> str:
        """A short name of the trained network, e.g. ``MLP 64-64`` (``MLP linear θ0=0`` with ``init`` zeros)."""

    def run(self, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
        """Train θ_d as ``config`` says and return its final evaluation."""

    def run_stream(self, configs: list[TrialConfig], data_dir: str | None = None
                   ) -> Iterator[tuple[TrialConfig, TrialResult | NonFiniteReturn]]:
        """Run several trials, together where the task can (direct search in lockstep, supervised seeds
        stacked), yielding each as it finishes: its result, or the NonFiniteReturn that failed it.
        Every trial's result is the one it gets alone."""

    def replay(self, config: TrialConfig, solution: Solution, episodes: int | None, seed: int,
               data_dir: str | None = None) -> list[float]:
        """Re-evaluate a stored solution (on the trial's own evaluation seeds when ``episodes`` is None)."""


__all__ = ["EPISODE_RETURN", "Normalisation", "RANDOM_FLOOR", "TEST_ACCURACY", "Task"]
