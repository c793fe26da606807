"""The supervised task kind (Li et al. 2018, §3): classifiers trained in a random subspace.

Tasks (``SUPERVISED_TASKS``): ``digits-fc``, ``digits-lenet`` (embedded 8×8 digits, CPU-friendly) and
``mnist-fc`` (784-200-200-10 ReLU, D = 199,210 as in the paper), ``mnist-lenet`` (the paper's
LeNet, D = 44,426), which read MNIST from IDX files (see [`rlsub.supervised.datasets`][rlsub.supervised.datasets]). Performance is test
accuracy. The networks are [`classifiers`][rlsub.supervised.classifiers], the hyper-parameters [`recipe`][rlsub.supervised.recipe] and the
training loop [`rlsub.supervised.training`][rlsub.supervised.training].

``run_supervised_trials_batched`` trains several seeds of one configuration in one loop, each trial's
arithmetic its own: every result is bit for bit its lone run's (docs/guide/determinism.md).

>>> from rlsub.trial import TrialConfig
>>> res = run_supervised_trial(TrialConfig(env="digits-fc", method="adam", dim=32, seed=0))
>>> 0.0 <= res.final_returns[0] <= 1.0
True
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

from rlsub.errors import ConfigError, SolutionError
from rlsub.subspace import Subspace
from rlsub.supervised.classifiers import FC_HIDDEN, build_network, network_size
from rlsub.supervised.datasets import load_dataset
from rlsub.supervised.recipe import OPTIMIZERS, SupervisedParams
from rlsub.supervised.training import evaluate_subspace, probe_logits, train_one, train_seeds
from rlsub.tasks.base import TEST_ACCURACY, Normalisation
from rlsub.trial import TrialConfig, TrialResult


@dataclass(frozen=True)
class SupervisedTask:
    """A (dataset, network) pair ([`rlsub.tasks.base.Task`][rlsub.tasks.base.Task]); performance is test accuracy."""

    name: str
    dataset: str
    network: str
    description: str
    return_low: float = 0.0
    """Performance 0 (accuracy 0, as in Li et al.'s d_int90 = 90% of the baseline's accuracy)."""
    return_best: float = 1.0
    """Fallback full-space baseline when no dim=None run has been measured."""
    solved_threshold: float | None = None
    kind: str = "supervised"
    revision: int = 0
    """Protocol revision of this task's recipe ([`rlsub.tasks.base.Task.revision`][rlsub.tasks.base.Task.revision])."""
    batches_seeds: bool = True

    # -- the Task protocol --------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "network": self.network}

    def normalisation(self) -> Normalisation:
        return Normalisation(
            measure=TEST_ACCURACY,
            low=self.return_low, low_source="accuracy 0",
            best=self.return_best, best_source=f"registered for {self.name}",
            solved=self.solved_threshold,
        )

    def method_names(self) -> tuple[str, ...]:
        return (*OPTIMIZERS, "supervised")

    def method_params(self, method: str) -> type:
        return SupervisedParams

    def is_population_method(self, method: str) -> bool:
        return False

    def native_dimension(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> int:
        return network_size(self, hidden)

    def network_label(self, hidden: tuple[int, ...] | None = None, family: str | None = None,
                      init: str | None = None) -> str:
        if self.network == "fc":
            return "FC " + "-".join(str(h) for h in (hidden or FC_HIDDEN[self.dataset]))
        return "LeNet"

    def run(self, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
        return train_one(self, config, data_dir)

    def run_stream(self, configs: list[TrialConfig], data_dir: str | None = None
                   ) -> Iterator[tuple[TrialConfig, TrialResult]]:
        """Seeds of one configuration trained in one loop (each bit for bit its lone run), anything else one by one."""
        configs = list(configs)
        firsts = {replace(c, seed=0) for c in configs}
        if len(configs) > 1 and len(firsts) == 1:
            yield from zip(configs, train_seeds(self, configs, data_dir))
            return
        for c in configs:
            yield c, self.run(c, data_dir)

    def _rebuild(self, config: TrialConfig, solution, data_dir: str | None):
        """The solution's subspace (θ_0 and P from its config) and the test split, on the CPU."""
        data = load_dataset(self.dataset, data_dir)
        net = build_network(self, data.image_shape, config.seed, config.hidden)
        sub = Subspace(net, config.dim, config.projection_name, config.seed)
        if sub.D != solution.D or sub.d != solution.d:
            raise SolutionError(f"solution file {solution.path}: rebuilt network has D={sub.D}, d={sub.d} "
                                f"but the file says D={solution.D}, d={solution.d}")
        _, _, x_test, y_test = data.tensors(torch.device("cpu"))
        return sub, x_test, y_test

    def replay(self, config: TrialConfig, solution, episodes: int | None, seed: int,
               data_dir: str | None = None) -> list[float]:
        sub, x_test, y_test = self._rebuild(config, solution, data_dir)
        return [evaluate_subspace(sub, x_test, y_test, torch.as_tensor(solution.theta_d))]

    def probe(self, config: TrialConfig, solution, data_dir: str | None = None) -> list[list[float]]:
        """The solution's probe logits recomputed here ([`probe_logits`][rlsub.supervised.training.probe_logits])."""
        sub, x_test, _ = self._rebuild(config, solution, data_dir)
        return probe_logits(sub, x_test, torch.as_tensor(solution.theta_d))


SUPERVISED_TASKS: dict[str, SupervisedTask] = {
    t.name: t
    for t in (
        SupervisedTask(
            "digits-fc", "digits", "fc",
            "sklearn 8x8 digits, FC 64-64-64-10 ReLU (D = 8,970); embedded, no download",
            return_best=0.97,
        ),
        SupervisedTask(
            "digits-lenet", "digits", "lenet",
            "sklearn 8x8 digits, LeNet-style CNN with 3x3 convs (D = 19,754); embedded",
            return_best=0.98,
        ),
        SupervisedTask(
            "mnist-fc", "mnist", "fc",
            "MNIST, FC 784-200-200-10 ReLU (D = 199,210, Li et al. 2018); needs IDX files",
            return_best=0.98,
        ),
        SupervisedTask(
            "mnist-lenet", "mnist", "lenet",
            "MNIST, LeNet conv6-pool-conv16-pool-120-84-10 (D = 44,426, Li et al. 2018); needs IDX files",
            return_best=0.99,
        ),
    )
}


def supervised_task(name: str) -> SupervisedTask:
    """The supervised task called ``name``; ConfigError listing the choices otherwise."""
    try:
        return SUPERVISED_TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown supervised task {name!r}; choose one of {', '.join(SUPERVISED_TASKS)}") from None


def parameter_count(name: str, hidden: tuple[int, ...] | None = None) -> int:
    """D of task ``name``'s network (no data needed)."""
    return network_size(supervised_task(name), hidden)


def run_supervised_trial(config: TrialConfig, data_dir: str | None = None) -> TrialResult:
    """Train θ_d of ``config.env``'s classifier in a ``config.dim``-dimensional subspace
    ([`rlsub.supervised.training.train_one`][rlsub.supervised.training.train_one])."""
    return train_one(supervised_task(config.env), config, data_dir)


def run_supervised_trials_batched(configs: list[TrialConfig], data_dir: str | None = None) -> list[TrialResult]:
    """Train several trials that differ only in ``seed`` at once ([`rlsub.supervised.training.train_seeds`][rlsub.supervised.training.train_seeds])."""
    if not configs:
        return []
    return train_seeds(supervised_task(configs[0].env), configs, data_dir)


__all__ = [
    "SUPERVISED_TASKS",
    "SupervisedTask",
    "parameter_count",
    "run_supervised_trial",
    "run_supervised_trials_batched",
    "supervised_task",
]
