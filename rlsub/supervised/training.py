"""Training classifiers in a random subspace: one loop, for one trial or several seeds at once.

A classifier's parameters are θ = θ_0 + P·θ_d (``rlsub.subspace.Subspace``); only θ_d is trained,
by minibatch gradient descent on the cross-entropy of the training split. Performance is the
test accuracy in [0, 1] of the final θ_d (no early stopping, no selection on the test set).

The data order is a fresh permutation of the training split per epoch, drawn from a
``torch.Generator`` seeded by ``derive_seed(seed, "data-order")``; θ_0 comes from
``derive_seed(seed, "theta0")`` and P from ``seed`` (as for policies), so the same config gives
the same result on CPU.

``train_seeds`` trains several seeds of one configuration at once (vmap over a stacked θ_d): same
results as ``train_one`` up to float rounding, fewer per-step overheads for small networks. Both
run ``_train``; only the model differs (``_Alone``: the subspace's own forward, ``_Stacked``: one
vmapped forward of B subspaces).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from rlsub.errors import ConfigError
from rlsub.projections.stacked import StackedProjection
from rlsub.subspace import Subspace
from rlsub.supervised.classifiers import Classifier, build_network
from rlsub.supervised.datasets import load_dataset
from rlsub.supervised.recipe import make_optimizer, resolve_recipe
from rlsub.trial import TrialConfig, TrialResult
from rlsub.utils.seeding import derive_seed

EVAL_CHUNK = 4096


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


def evaluate_subspace(sub: Subspace, x: torch.Tensor, y: torch.Tensor, theta_d: torch.Tensor | None = None) -> float:
    """Accuracy of ``sub`` at θ_d (default: its own) on (x, y); projects θ once, not per chunk."""
    with torch.no_grad():
        params = sub.params(theta_d)
        return accuracy(lambda xb: sub.call(params, xb), x, y)


class _Alone:
    """One trial: θ_d is its subspace's own parameter, the forward the subspace's own."""

    def __init__(self, subs: list[Subspace]) -> None:
        (self.sub,) = subs
        self.theta = self.sub.theta_d

    def losses(self, idx: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(objective to descend, mean loss, correct count) of the minibatch ``idx[0]``."""
        logits = self.sub(x[idx[0]])
        loss = nn.functional.cross_entropy(logits, y[idx[0]])
        return loss, loss.detach(), (logits.argmax(-1) == y[idx[0]]).sum()

    def accuracies(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        return [evaluate_subspace(self.sub, x, y)]

    def thetas(self) -> list[np.ndarray]:
        return [self.sub.theta_d.detach().cpu().numpy().astype(np.float32)]


class _Stacked:
    """B subspaces of one architecture (different seeds ⇒ different θ_0 and P) trained as one batch.

    θ_d is a ``[B, d]`` tensor; the B products P_b θ_b run as one (``StackedProjection``). The loss is
    the sum of per-trial losses, so gradients do not mix.
    """

    def __init__(self, subs: list[Subspace]) -> None:
        self.subs = subs
        self.template = subs[0]
        self.theta_0 = torch.stack([s.theta_0 for s in subs])
        self.product = StackedProjection([s.projection for s in subs])
        self.theta = nn.Parameter(torch.zeros(len(subs), subs[0].d, device=self.theta_0.device))

    def params(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.template.unflatten(self.theta_0 + self.product(theta))

    def losses(self, idx: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(objective to descend, ``[B]`` mean losses, ``[B]`` correct counts): trial b on ``idx[b]``."""
        stacked = torch.stack(idx)  # [B, b]
        xb, yb = x[stacked], y[stacked]
        logits = self.template.population_forward(self.params(self.theta), xb)  # [B, b, classes]
        per_trial = nn.functional.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none")
        per_trial = per_trial.view(len(idx), -1).mean(-1)
        return per_trial.sum(), per_trial.detach(), (logits.argmax(-1) == yb).sum(-1)

    @torch.no_grad()
    def accuracies(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """Test accuracy of every trial on the shared (x, y)."""
        theta = self.theta.detach()
        params = self.params(theta)
        module = self.template.module
        shared = vmap(lambda p, xb: functional_call(module, p, (xb,)), in_dims=(0, None))
        correct = torch.zeros(theta.shape[0], dtype=torch.long, device=theta.device)
        for i in range(0, x.shape[0], EVAL_CHUNK):
            pred = shared(params, x[i : i + EVAL_CHUNK]).argmax(-1)
            correct += (pred == y[i : i + EVAL_CHUNK]).sum(-1)
        # Integer counts divided in Python: the same float as ``accuracy``.
        return [int(c) / max(1, x.shape[0]) for c in correct.tolist()]

    def thetas(self) -> list[np.ndarray]:
        return list(self.theta.detach().cpu().numpy().astype(np.float32))


def train_one(task: Classifier, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
    """Train θ_d of ``task``'s classifier in a ``config.dim``-dimensional subspace.

    Returns a TrialResult whose ``final_returns`` is ``[test accuracy]``, ``env_steps`` the number
    of training examples processed and ``curve`` a list of (examples, running training accuracy
    since the previous point, test accuracy).
    """
    return _train(task, [config], data_dir, _Alone)[0]


def train_seeds(task: Classifier, configs: list[TrialConfig], data_dir: str | None = None) -> list[TrialResult]:
    """Train several trials that differ only in ``seed`` at once, vmapped over a stacked θ_d.

    Same recipe and result format as ``train_one`` (Adam/SGD are element-wise, so one optimizer over
    ``[B, d]`` is B independent ones). Each trial keeps its own θ_0, P and data order; results agree
    with one-at-a-time runs up to float rounding. ``wall_time`` is the batch's time divided by B.
    """
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if replace(c, seed=first.seed) != first:
            raise ConfigError("batched supervised trials must differ in seed only")
    if len({c.seed for c in configs}) != len(configs):
        raise ConfigError("batched supervised trials need distinct seeds")
    return _train(task, configs, data_dir, _Stacked)


def _train(task: Classifier, configs: list[TrialConfig], data_dir: str | None,
           model_cls: type[_Alone] | type[_Stacked]) -> list[TrialResult]:
    """The training loop of ``configs`` (one, or seeds of one configuration) as one ``model_cls``."""
    start = time.perf_counter()
    first, B = configs[0], len(configs)
    data = load_dataset(task.dataset, data_dir)
    recipe = resolve_recipe(first, task, data.train_size)
    device = torch.device(first.device)
    x_train, y_train, x_test, y_test = data.tensors(device)
    subs = [
        Subspace(build_network(task, data.image_shape, c.seed, c.hidden), c.dim, c.projection_name, c.seed).to(device)
        for c in configs
    ]
    model = model_cls(subs)
    opt = make_optimizer(recipe, [model.theta])
    streams = [
        BatchStream(data.train_size, recipe.batch_size, recipe.examples,
                    torch.Generator().manual_seed(derive_seed(c.seed, "data-order")), device)
        for c in configs
    ]
    marks = checkpoints(recipe.examples, recipe.eval_points)
    curves: list[list[tuple[int, float, float]]] = [[] for _ in configs]
    losses: list[list[float]] = [[] for _ in configs]
    # Running sums stay on the device: one host sync per curve point, not per step.
    loss_sum = torch.zeros(B, device=device)
    correct = torch.zeros(B, device=device)
    interval, steps, seen = 0, 0, 0
    diverged = [False] * B
    while seen < recipe.examples:
        # Every stream yields the same batch sizes (same n, batch size and total), only orders differ.
        idx = [next(s) for s in streams]
        seen, n = streams[0].seen, idx[0].numel()
        objective, mean_loss, hits = model.losses(idx, x_train, y_train)
        opt.zero_grad(set_to_none=True)
        objective.backward()
        opt.step()
        steps += 1
        with torch.no_grad():
            loss_sum += mean_loss * n
            correct += hits
        interval += n
        if marks and seen >= marks[0]:
            marks.pop(0)
            test_acc = model.accuracies(x_test, y_test)
            for b in range(B):
                # A diverged run is a legitimate (bad) result at a too-large lr: record, don't raise.
                diverged[b] = diverged[b] or not math.isfinite(float(loss_sum[b]))
                curves[b].append((seen, float(correct[b]) / interval, test_acc[b]))
                losses[b].append(float(loss_sum[b]) / interval)
            loss_sum.zero_(), correct.zero_()
            interval = 0
    wall = time.perf_counter() - start
    batched = {"batched": B, "batch_wall_time": wall} if model_cls is _Stacked else {}
    results = []
    for b, theta_d in enumerate(model.thetas()):
        info = {
            "dataset": task.dataset,
            "network": task.network,
            "train_size": data.train_size,
            "test_size": data.test_size,
            "steps": steps,
            "diverged": diverged[b],
            "train_loss_curve": losses[b],
            **batched,
            **recipe.info(data.train_size),
        }
        results.append(TrialResult(
            final_returns=[curves[b][-1][2]], env_steps=seen, wall_time=wall / B, D=subs[b].D, d=subs[b].d,
            theta_d=theta_d, curve=curves[b], info=info,
        ))
    return results


__all__ = ["BatchStream", "accuracy", "checkpoints", "evaluate_subspace", "train_one", "train_seeds"]
