"""Training classifiers in a random subspace: one loop, for one trial or several seeds at once.

A classifier's parameters are θ = θ_0 + P·θ_d ([`rlsub.subspace.Subspace`][rlsub.subspace.Subspace]); only θ_d is trained,
by minibatch gradient descent on the cross-entropy of the training split. Performance is the
test accuracy in [0, 1] of the final θ_d (no early stopping, no selection on the test set).

The data order is a fresh permutation of the training split per epoch, drawn from a
``torch.Generator`` seeded by ``derive_seed(seed, "data-order")``; θ_0 comes from
``derive_seed(seed, "theta0")`` and P from ``seed`` (as for policies), so the same config gives
the same result on CPU.

``train_seeds`` (``--batch-seeds``) trains several seeds of one configuration in one loop. Both run
``_train`` with ``_Trials``, ``train_one`` as a batch of one, and every trial's arithmetic is its
own (its own θ_d, forward, loss and per-tensor optimizer step): a trial's result is bit for bit its
lone run's, exact by construction on any CPU (docs/guide/determinism.md). It used to be one vmapped
forward over a stacked θ_d; on an AMD EPYC (MKL, AVX-512) that made a seed's numbers depend on its
batch mates. Cost, digits-fc d = 64, 8 seeds, 1 thread: against one at a time the stacked forward was
1.0× (dense P) and 1.9× (Fastfood), the loop is 0.9–1.0× and 1.35×.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from rlsub.errors import ConfigError
from rlsub.subspace import Subspace
from rlsub.supervised.classifiers import Classifier, build_network
from rlsub.supervised.datasets import load_dataset
from rlsub.supervised.recipe import make_optimizer, resolve_recipe
from rlsub.trial import TrialConfig, TrialResult
from rlsub.utils.seeding import derive_seed

EVAL_CHUNK = 4096
#: Test examples whose logits a trial stores (``probe_logits``).
PROBE_SIZE = 16


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


def probe_logits(sub: Subspace, x_test: torch.Tensor, theta_d: torch.Tensor | None = None) -> list[list[float]]:
    """Logits at θ_d (default: its own) of the first ``PROBE_SIZE`` test examples, stored with the
    solution: ``rlsub replay`` recomputes them and says how far another machine's arithmetic lands."""
    with torch.no_grad():
        return sub.call(sub.params(theta_d), x_test[:PROBE_SIZE]).cpu().double().tolist()


class _Trials:
    """B trials (one, or seeds of one configuration), each computed exactly as it is alone.

    Every trial keeps its own θ_d (its subspace's own parameter), its own forward (the subspace's own,
    on its own minibatch) and its own loss; only the loop, the data and the optimizer object are
    shared, and the optimizer (``make_optimizer``: torch's per-tensor Adam/SGD on CPU) updates each
    θ_d by its own kernel calls. So a trial's arithmetic is the same operations on the same shapes
    whether it trains alone (a batch of one) or beside B - 1 others: its bits cannot depend on its
    batch mates, on any CPU or BLAS. (A stacked θ_d ``[B, d]`` through vmapped/batched matrix products
    could: MKL on an AMD EPYC rounds a row by where it lies in memory, and over 30 epochs of digits-fc
    the differences grew to 8 % of θ_d and a different test accuracy.)
    """

    def __init__(self, subs: list[Subspace]) -> None:
        self.subs = subs
        self.params = [s.theta_d for s in subs]

    def losses(self, idx: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor
               ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(each trial's loss to descend, ``[B]`` mean losses, ``[B]`` correct counts): trial b on ``idx[b]``."""
        losses, hits = [], []
        for sub, i in zip(self.subs, idx):
            logits = sub(x[i])
            losses.append(nn.functional.cross_entropy(logits, y[i]))
            hits.append((logits.argmax(-1) == y[i]).sum())
        return losses, torch.stack([v.detach() for v in losses]), torch.stack(hits)

    def accuracies(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        return [evaluate_subspace(sub, x, y) for sub in self.subs]

    def thetas(self) -> list[np.ndarray]:
        return [sub.theta_d.detach().cpu().numpy().astype(np.float32) for sub in self.subs]


def train_one(task: Classifier, config: TrialConfig, data_dir: str | None = None) -> TrialResult:
    """Train θ_d of ``task``'s classifier in a ``config.dim``-dimensional subspace.

    Returns a TrialResult whose ``final_returns`` is ``[test accuracy]``, ``env_steps`` the number
    of training examples processed and ``curve`` a list of (examples, running training accuracy
    since the previous point, test accuracy).
    """
    return _train(task, [config], data_dir)[0]


def train_seeds(task: Classifier, configs: list[TrialConfig], data_dir: str | None = None) -> list[TrialResult]:
    """Train several trials that differ only in ``seed`` in one loop.

    Same recipe and result format as ``train_one``; each trial keeps its own θ_0, P, data order and
    arithmetic (``_Trials``), so every result is bit for bit its lone run's (``train_one`` is a batch
    of one). ``wall_time`` is the batch's time divided by B.
    """
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if replace(c, seed=first.seed) != first:
            raise ConfigError("batched supervised trials must differ in seed only")
    if len({c.seed for c in configs}) != len(configs):
        raise ConfigError("batched supervised trials need distinct seeds")
    return _train(task, configs, data_dir)


def _train(task: Classifier, configs: list[TrialConfig], data_dir: str | None) -> list[TrialResult]:
    """The training loop of ``configs`` (one, or seeds of one configuration), each trial its own (``_Trials``)."""
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
    model = _Trials(subs)
    opt = make_optimizer(recipe, model.params)
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
        objectives, mean_loss, hits = model.losses(idx, x_train, y_train)
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(objectives)  # each trial's own graph, gradient 1
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
    batched = {"batched": B, "batch_wall_time": wall} if B > 1 else {}
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
            "probe": probe_logits(subs[b], x_test),
            **batched,
            **recipe.info(data.train_size),
        }
        results.append(TrialResult(
            final_returns=[curves[b][-1][2]], env_steps=seen, wall_time=wall / B, D=subs[b].D, d=subs[b].d,
            theta_d=theta_d, curve=curves[b], info=info,
        ))
    return results


__all__ = ["PROBE_SIZE", "BatchStream", "accuracy", "checkpoints", "evaluate_subspace", "probe_logits", "train_one",
           "train_seeds"]
