"""Supervised intrinsic dimension (Li et al. 2018, §3): classifiers trained in a random subspace.

A classifier's parameters are θ = θ_0 + P·θ_d (``rlsub.subspace.Subspace``); only θ_d is trained,
by minibatch gradient descent on the cross-entropy of the training split. Performance is the
test accuracy in [0, 1] of the final θ_d (no early stopping, no selection on the test set).

Tasks (``SUPERVISED_TASKS``): ``digits-fc``, ``digits-lenet`` (embedded 8×8 digits, CPU-friendly) and
``mnist-fc`` (784-200-200-10 ReLU, D = 199,210 as in the paper), ``mnist-lenet`` (the paper's
LeNet, D = 44,426), which read MNIST from IDX files (see ``rlsub.datasets``).

Recipe (hyper-parameters are ``TrialConfig.params``; all are optional):

* ``optimizer``: ``adam`` (default) or ``sgd`` (with ``momentum``, default 0.9). The config's
  ``method`` may also be ``adam`` or ``sgd``; ``supervised`` means "use params/defaults".
* ``lr``: Adam learning rate. Defaults differ between the full space and subspaces because a
  step of size lr on each of the d coordinates of θ_d moves θ by only ~lr·sqrt(d) (P has unit
  columns), versus ~lr·sqrt(D) for ordinary training: full space ``FULL_LR`` (3e-3 digits,
  1e-3 MNIST), subspace
  ``SUBSPACE_LR`` (tuned on digits-fc/-lenet, d = 8..256, see the tests and report).
  SGD defaults: 0.05 full space, 1.0 subspace.
* ``batch_size``: 32 for digits, 128 for MNIST.
* ``epochs``: passes over the training split (digits 30, MNIST 10). ``TrialConfig.budget``,
  when given, is instead the number of training examples processed (it must not be combined
  with ``epochs``). ``TrialResult.env_steps`` is always the number of examples processed.
* ``eval_points``: how many learning-curve points (test accuracy is computed at each), default 5.

The data order is a fresh permutation of the training split per epoch, drawn from a
``torch.Generator`` seeded by ``derive_seed(seed, "data-order")``; θ_0 comes from
``derive_seed(seed, "theta0")`` and P from ``seed`` (as for policies), so the same config gives
the same result on CPU.

``run_supervised_trials_batched`` trains several seeds of one configuration at once (vmap over a
stacked θ_d): same results up to float rounding, fewer per-step overheads for small networks.

>>> from rlsub.trial import TrialConfig
>>> res = run_supervised_trial(TrialConfig(env="digits-fc", method="adam", dim=32, seed=0))
>>> 0.0 <= res.final_returns[0] <= 1.0
True
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from rlsub.datasets import load_dataset
from rlsub.errors import ConfigError, SolutionError
from rlsub.seeding import derive_seed
from rlsub.projections.stacked import StackedProjection
from rlsub.subspace import Subspace
from rlsub.task import TEST_ACCURACY, Normalisation
from rlsub.trial import TrialConfig, TrialResult


@dataclass(frozen=True)
class SupervisedParams:
    """Hyper-parameters of supervised trials (``--param``); None: the documented default."""

    optimizer: str | None = None
    """``adam`` or ``sgd`` (default: the method's name, Adam for ``supervised``)."""
    lr: float | None = None
    batch_size: int | None = None
    epochs: float | None = None
    momentum: float | None = None
    """SGD momentum (default 0.9)."""
    eval_points: int | None = None
    """Learning-curve points (test accuracy at each), default 5."""


@dataclass(frozen=True)
class SupervisedTask:
    """A (dataset, network) pair (``rlsub.task.Task``); performance is test accuracy."""

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
    """Protocol revision of this task's recipe (``rlsub.task.Task.revision``)."""
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
        return parameter_count(self.name, hidden)

    def network_label(self, hidden: tuple[int, ...] | None = None, family: str | None = None) -> str:
        if self.network == "fc":
            return "FC " + "-".join(str(h) for h in (hidden or FC_HIDDEN[self.dataset]))
        return "LeNet"

    def run(self, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
        return run_supervised_trial(config, data_dir)

    def run_stream(self, configs: list[TrialConfig], data_dir: str | None = None
                   ) -> Iterator[tuple[TrialConfig, TrialResult]]:
        """Seeds of one configuration trained together (stacked θ_d), anything else one by one."""
        configs = list(configs)
        firsts = {replace(c, seed=0) for c in configs}
        if len(configs) > 1 and len(firsts) == 1:
            yield from zip(configs, run_supervised_trials_batched(configs, data_dir))
            return
        for c in configs:
            yield c, self.run(c, data_dir)

    def replay(self, config: TrialConfig, solution, episodes: int | None, seed: int,
               data_dir: str | None = None) -> list[float]:
        data = load_dataset(self.dataset, data_dir)
        net = build_network(self, data.image_shape, config.seed, config.hidden)
        sub = Subspace(net, config.dim, config.projection_name, config.seed)
        if sub.D != solution.D or sub.d != solution.d:
            raise SolutionError(f"solution file {solution.path}: rebuilt network has D={sub.D}, d={sub.d} "
                                f"but the file says D={solution.D}, d={solution.d}")
        _, _, x_test, y_test = data.tensors(torch.device("cpu"))
        return [evaluate_subspace(sub, x_test, y_test, torch.as_tensor(solution.theta_d))]


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

#: Default FC hidden sizes per dataset (``TrialConfig.hidden`` overrides them).
FC_HIDDEN = {"digits": (64, 64), "mnist": (200, 200)}

#: Adam learning rate for subspace training (d < D); see the module docstring.
SUBSPACE_LR = 3e-2
#: Adam learning rate for the full-space baseline (d = D, identity projection), per dataset:
#: 3e-3 was best of {3e-4, 1e-3, 3e-3, 1e-2} on digits (2 seeds); 1e-3 is the usual MNIST choice.
FULL_LR = {"digits": 3e-3, "mnist": 1e-3}
SGD_LR = {"full": 0.05, "subspace": 1.0}
DEFAULT_BATCH = {"digits": 32, "mnist": 128}
DEFAULT_EPOCHS = {"digits": 30, "mnist": 10}
OPTIMIZERS = ("adam", "sgd")
#: ``TrialConfig.method`` values accepted for supervised tasks.
SUPERVISED_METHODS = ("supervised", *OPTIMIZERS)
PARAM_NAMES = ("optimizer", "lr", "batch_size", "epochs", "momentum", "eval_points")
EVAL_CHUNK = 4096


def supervised_task(name: str) -> SupervisedTask:
    """The supervised task called ``name``; ConfigError listing the choices otherwise."""
    try:
        return SUPERVISED_TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown supervised task {name!r}; choose one of {', '.join(SUPERVISED_TASKS)}") from None


# -- networks ---------------------------------------------------------------------------------
def build_fc(in_shape: tuple[int, ...], hidden: tuple[int, ...], n_classes: int = 10) -> nn.Module:
    """Flatten → [Linear → ReLU]* → Linear(n_classes)."""
    sizes = [int(np.prod(in_shape)), *hidden]
    layers: list[nn.Module] = [nn.Flatten(start_dim=-len(in_shape))]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], n_classes))
    return nn.Sequential(*layers)


def build_lenet(in_shape: tuple[int, ...], n_classes: int = 10) -> nn.Module:
    """LeNet: conv6-pool-conv16-pool-fc120-fc84-fc(n_classes), ReLU, max-pooling.

    28×28 inputs get the paper's 5×5 valid convolutions (D = 44,426 for MNIST); small inputs
    such as 8×8 digits get 3×3 'same' convolutions so that two 2×2 poolings still fit.
    """
    c, h, w = in_shape
    k, pad = (5, 0) if min(h, w) >= 28 else (3, 1)
    for _ in range(2):
        h, w = (h + 2 * pad - k + 1) // 2, (w + 2 * pad - k + 1) // 2
    if h < 1 or w < 1:
        raise ConfigError(f"LeNet needs larger images than {in_shape[1:]}")
    return nn.Sequential(
        nn.Conv2d(c, 6, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, k, padding=pad), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(start_dim=-3),
        nn.Linear(16 * h * w, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, n_classes),
    )


def build_network(
    task: SupervisedTask, in_shape: tuple[int, ...], seed: int, hidden: tuple[int, ...] | None = None
) -> nn.Module:
    """The task's network with θ_0 drawn (torch default init) from ``derive_seed(seed, "theta0")``."""
    if task.network == "lenet" and hidden is not None:
        raise ConfigError(f"{task.name}: hidden sizes apply to FC networks only")
    if hidden is not None and (not hidden or any(int(h) < 1 for h in hidden)):
        raise ConfigError(f"hidden sizes must be positive integers, got {hidden!r}")
    # fork_rng keeps the caller's global RNG untouched: θ_0 depends on `seed` alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "theta0"))
        if task.network == "fc":
            return build_fc(in_shape, tuple(int(h) for h in (hidden or FC_HIDDEN[task.dataset])))
        return build_lenet(in_shape)


def parameter_count(name: str, hidden: tuple[int, ...] | None = None) -> int:
    """D of task ``name``'s network (no data needed)."""
    task = supervised_task(name)
    shape = (1, 8, 8) if task.dataset == "digits" else (1, 28, 28)
    return sum(p.numel() for p in build_network(task, shape, 0, hidden).parameters())


# -- hyper-parameters -------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """Validated training hyper-parameters of one trial."""

    optimizer: str
    lr: float
    batch_size: int
    examples: int
    """Training examples to process (the budget)."""
    momentum: float
    eval_points: int

    def info(self, train_size: int) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "lr": self.lr,
            "batch_size": self.batch_size,
            "momentum": self.momentum if self.optimizer == "sgd" else None,
            "epochs": self.examples / train_size,
        }


def _number(params: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"param {key} must be a finite number, got {value!r}")
    if kind is int and value != int(value):
        raise ConfigError(f"param {key} must be an integer, got {value!r}")
    return kind(value)


def resolve_recipe(config: TrialConfig, task: SupervisedTask, train_size: int) -> Recipe:
    """Hyper-parameters from ``config.params`` and ``config.method`` over the documented defaults."""
    params = dict(config.params)
    unknown = sorted(set(params) - set(PARAM_NAMES))
    if unknown:
        raise ConfigError(f"unknown supervised param(s) {', '.join(unknown)}; known: {', '.join(PARAM_NAMES)}")
    if config.method not in SUPERVISED_METHODS:
        raise ConfigError(
            f"supervised task {task.name} is trained by gradient descent: method must be one of "
            f"{', '.join(SUPERVISED_METHODS)}, got {config.method!r}"
        )
    optimizer = params.get("optimizer", "adam" if config.method == "supervised" else config.method)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"param optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if config.method in OPTIMIZERS and optimizer != config.method:
        raise ConfigError(f"method {config.method!r} conflicts with param optimizer={optimizer!r}")
    space = "full" if config.is_full else "subspace"
    default_lr = (FULL_LR[task.dataset] if config.is_full else SUBSPACE_LR) if optimizer == "adam" else SGD_LR[space]
    lr = _number(params, "lr", float, default_lr)
    if lr <= 0:
        raise ConfigError(f"param lr must be > 0, got {lr}")
    batch = _number(params, "batch_size", int, DEFAULT_BATCH[task.dataset])
    if batch < 1:
        raise ConfigError(f"param batch_size must be >= 1, got {batch}")
    momentum = _number(params, "momentum", float, 0.9)
    if not 0 <= momentum < 1:
        raise ConfigError(f"param momentum must be in [0, 1), got {momentum}")
    if "momentum" in params and optimizer != "sgd":
        raise ConfigError("param momentum applies to optimizer sgd only")
    eval_points = _number(params, "eval_points", int, 5)
    if eval_points < 1:
        raise ConfigError(f"param eval_points must be >= 1, got {eval_points}")
    if config.budget is not None and "epochs" in params:
        raise ConfigError("give either budget (training examples) or param epochs, not both")
    if config.budget is not None:
        examples = int(config.budget)
    else:
        epochs = _number(params, "epochs", float, DEFAULT_EPOCHS[task.dataset])
        if epochs <= 0:
            raise ConfigError(f"param epochs must be > 0, got {epochs}")
        examples = max(1, int(round(epochs * train_size)))
    return Recipe(optimizer, lr, batch, examples, momentum, eval_points)


def make_optimizer(recipe: Recipe, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum)


# -- training ---------------------------------------------------------------------------------
class BatchStream:
    """Minibatch indices over ``n`` examples: a fresh seeded permutation per epoch, last batch of
    an epoch possibly smaller, and the final batch cut so exactly ``total`` examples are seen."""

    def __init__(self, n: int, batch_size: int, total: int, generator: torch.Generator, device: torch.device):
        self.n, self.batch_size, self.total = n, batch_size, total
        self.generator, self.device = generator, device
        self.seen, self._perm, self._pos = 0, torch.empty(0, dtype=torch.long), n

    def __iter__(self):
        return self

    def __next__(self) -> torch.Tensor:
        if self.seen >= self.total:
            raise StopIteration
        if self._pos >= self.n:
            # Permutations are drawn on the CPU generator so the order does not depend on device.
            self._perm, self._pos = torch.randperm(self.n, generator=self.generator).to(self.device), 0
        size = min(self.batch_size, self.n - self._pos, self.total - self.seen)
        idx = self._perm[self._pos : self._pos + size]
        self._pos += size
        self.seen += size
        return idx


def checkpoints(total: int, points: int) -> list[int]:
    """Example counts at which the learning curve is recorded (the last is ``total``)."""
    return sorted({max(1, round(total * (i + 1) / points)) for i in range(points)})


@torch.no_grad()
def accuracy(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y`` (evaluated in chunks to bound memory)."""
    correct = 0
    for i in range(0, x.shape[0], EVAL_CHUNK):
        correct += int((forward(x[i : i + EVAL_CHUNK]).argmax(-1) == y[i : i + EVAL_CHUNK]).sum())
    return correct / max(1, x.shape[0])


def _prepare(config: TrialConfig, data_dir: str | None):
    """Task, dataset, validated recipe, device and the data as device tensors for ``config``."""
    task = supervised_task(config.env)
    data = load_dataset(task.dataset, data_dir)
    recipe = resolve_recipe(config, task, data.train_size)
    device = torch.device(config.device)
    return task, data, recipe, device, data.tensors(device)


def run_supervised_trial(config: TrialConfig, data_dir: str | None = None) -> TrialResult:
    """Train θ_d of ``config.env``'s classifier in a ``config.dim``-dimensional subspace.

    Returns a TrialResult whose ``final_returns`` is ``[test accuracy]``, ``env_steps`` the number
    of training examples processed and ``curve`` a list of (examples, running training accuracy
    since the previous point, test accuracy).
    """
    start = time.perf_counter()
    task, data, recipe, device, (x_train, y_train, x_test, y_test) = _prepare(config, data_dir)
    net = build_network(task, data.image_shape, config.seed, config.hidden)
    sub = Subspace(net, config.dim, config.projection_name, config.seed).to(device)
    opt = make_optimizer(recipe, [sub.theta_d])
    stream = BatchStream(data.train_size, recipe.batch_size, recipe.examples,
                         torch.Generator().manual_seed(derive_seed(config.seed, "data-order")), device)
    marks = checkpoints(recipe.examples, recipe.eval_points)
    curve: list[tuple[int, float, float]] = []
    losses: list[float] = []
    # Running sums stay on the device: one host sync per curve point, not per step.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    interval, steps, diverged = 0, 0, False
    for idx in stream:
        logits = sub(x_train[idx])
        loss = nn.functional.cross_entropy(logits, y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
        with torch.no_grad():
            loss_sum += loss.detach() * idx.numel()
            correct += (logits.argmax(-1) == y_train[idx]).sum()
        interval += idx.numel()
        if marks and stream.seen >= marks[0]:
            marks.pop(0)
            test_acc = evaluate_subspace(sub, x_test, y_test)
            # A diverged run is a legitimate (bad) result at a too-large lr: record, don't raise.
            diverged = diverged or not math.isfinite(float(loss_sum))
            curve.append((stream.seen, float(correct) / interval, test_acc))
            losses.append(float(loss_sum) / interval)
            loss_sum.zero_(), correct.zero_()
            interval = 0
    final = curve[-1][2]
    info = {
        "dataset": task.dataset,
        "network": task.network,
        "train_size": data.train_size,
        "test_size": data.test_size,
        "steps": steps,
        "diverged": diverged,
        "train_loss_curve": losses,
        **recipe.info(data.train_size),
    }
    return TrialResult(
        final_returns=[final],
        env_steps=stream.seen,
        wall_time=time.perf_counter() - start,
        D=sub.D,
        d=sub.d,
        theta_d=sub.theta_d.detach().cpu().numpy().astype(np.float32),
        curve=curve,
        info=info,
    )


def evaluate_subspace(sub: Subspace, x: torch.Tensor, y: torch.Tensor, theta_d: torch.Tensor | None = None) -> float:
    """Accuracy of ``sub`` at θ_d (default: its own) on (x, y); projects θ once, not per chunk."""
    with torch.no_grad():
        params = sub.params(theta_d)
        return accuracy(lambda xb: sub.call(params, xb), x, y)


class _StackedSubspaces:
    """B subspaces of one architecture (different seeds ⇒ different θ_0 and P) trained as one batch.

    θ_d is a ``[B, d]`` tensor; the B products P_b θ_b run as one (``StackedProjection``).
    """

    def __init__(self, subs: list[Subspace]) -> None:
        self.subs = subs
        self.template = subs[0]
        self.theta_0 = torch.stack([s.theta_0 for s in subs])
        self.product = StackedProjection([s.projection for s in subs])

    def flat(self, theta: torch.Tensor) -> torch.Tensor:
        return self.theta_0 + self.product(theta)

    def params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.template.unflatten(self.flat(theta))

    def forward_each(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Trial b on its own inputs ``x[b]``: ``[B, n, ...]`` → ``[B, n, classes]``."""
        return self.template.population_forward(params, x)

    @torch.no_grad()
    def accuracies(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """Test accuracy of every trial on the shared (x, y)."""
        params = self.params(theta)
        module = self.template.module
        shared = vmap(lambda p, xb: functional_call(module, p, (xb,)), in_dims=(0, None))
        correct = torch.zeros(theta.shape[0], dtype=torch.long, device=theta.device)
        for i in range(0, x.shape[0], EVAL_CHUNK):
            pred = shared(params, x[i : i + EVAL_CHUNK]).argmax(-1)
            correct += (pred == y[i : i + EVAL_CHUNK]).sum(-1)
        # Integer counts divided in Python: the same float as run_supervised_trial's accuracy.
        return [int(c) / max(1, x.shape[0]) for c in correct.tolist()]


def run_supervised_trials_batched(configs: list[TrialConfig], data_dir: str | None = None) -> list[TrialResult]:
    """Train several trials that differ only in ``seed`` at once, vmapped over a stacked θ_d.

    Same recipe and result format as ``run_supervised_trial`` (Adam/SGD are element-wise, so one
    optimizer over ``[B, d]`` is B independent ones; the loss is the sum of per-trial losses so
    gradients do not mix). Each trial keeps its own θ_0, P and data order; results agree with
    one-at-a-time runs up to float rounding. ``wall_time`` is the batch's time divided by B.
    """
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if replace(c, seed=first.seed) != first:
            raise ConfigError("batched supervised trials must differ in seed only")
    if len({c.seed for c in configs}) != len(configs):
        raise ConfigError("batched supervised trials need distinct seeds")
    start = time.perf_counter()
    task, data, recipe, device, (x_train, y_train, x_test, y_test) = _prepare(first, data_dir)
    subs = [
        Subspace(build_network(task, data.image_shape, c.seed, c.hidden), c.dim, c.projection_name, c.seed).to(device)
        for c in configs
    ]
    stack = _StackedSubspaces(subs)
    B, d = len(configs), subs[0].d
    theta = nn.Parameter(torch.zeros(B, d, device=device))
    opt = make_optimizer(recipe, [theta])
    streams = [
        BatchStream(data.train_size, recipe.batch_size, recipe.examples,
                    torch.Generator().manual_seed(derive_seed(c.seed, "data-order")), device)
        for c in configs
    ]
    marks = checkpoints(recipe.examples, recipe.eval_points)
    curves: list[list[tuple[int, float, float]]] = [[] for _ in configs]
    losses: list[list[float]] = [[] for _ in configs]
    loss_sum = torch.zeros(B, device=device)
    correct = torch.zeros(B, device=device)
    interval, steps, seen = 0, 0, 0
    diverged = [False] * B
    while seen < recipe.examples:
        # Every stream yields the same batch sizes (same n, batch size and total), only orders differ.
        idx = torch.stack([next(s) for s in streams])  # [B, b]
        seen = streams[0].seen
        xb, yb = x_train[idx], y_train[idx]
        logits = stack.forward_each(stack.params(theta), xb)  # [B, b, classes]
        per_trial = nn.functional.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none")
        per_trial = per_trial.view(B, -1).mean(-1)
        opt.zero_grad(set_to_none=True)
        per_trial.sum().backward()
        opt.step()
        steps += 1
        with torch.no_grad():
            loss_sum += per_trial.detach() * idx.shape[1]
            correct += (logits.argmax(-1) == yb).sum(-1)
        interval += idx.shape[1]
        if marks and seen >= marks[0]:
            marks.pop(0)
            test_acc = stack.accuracies(theta.detach(), x_test, y_test)
            for b in range(B):
                diverged[b] = diverged[b] or not math.isfinite(float(loss_sum[b]))
                curves[b].append((seen, float(correct[b]) / interval, test_acc[b]))
                losses[b].append(float(loss_sum[b]) / interval)
            loss_sum.zero_(), correct.zero_()
            interval = 0
    wall = time.perf_counter() - start
    thetas = theta.detach().cpu().numpy().astype(np.float32)
    results = []
    for b in range(B):
        info = {
            "dataset": task.dataset,
            "network": task.network,
            "train_size": data.train_size,
            "test_size": data.test_size,
            "steps": steps,
            "diverged": diverged[b],
            "train_loss_curve": losses[b],
            "batched": B,
            "batch_wall_time": wall,
            **recipe.info(data.train_size),
        }
        results.append(TrialResult(
            final_returns=[curves[b][-1][2]], env_steps=seen, wall_time=wall / B, D=subs[b].D, d=d,
            theta_d=thetas[b], curve=curves[b], info=info,
        ))
    return results


__all__ = [
    "SUPERVISED_TASKS",
    "SupervisedParams",
    "SupervisedTask",
    "build_network",
    "evaluate_subspace",
    "parameter_count",
    "resolve_recipe",
    "supervised_task",
    "run_supervised_trial",
    "run_supervised_trials_batched",
]
