"""The classifiers of the supervised tasks (Li et al. 2018, §3): FC and LeNet, θ_0 from a seed."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn

from rlsub.errors import ConfigError
from rlsub.utils.seeding import derive_seed

#: Default FC hidden sizes per dataset (``TrialConfig.hidden`` overrides them).
FC_HIDDEN = {"digits": (64, 64), "mnist": (200, 200)}


class Classifier(Protocol):
    """What picks a network: ``network`` (``fc`` or ``lenet``) on ``dataset``; ``name`` for messages
    ([`rlsub.tasks.supervised.SupervisedTask`][rlsub.tasks.supervised.SupervisedTask] is one)."""

    name: str
    dataset: str
    network: str


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
    task: Classifier, in_shape: tuple[int, ...], seed: int, hidden: tuple[int, ...] | None = None
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


def network_size(task: Classifier, hidden: tuple[int, ...] | None = None) -> int:
    """D of ``task``'s network (no data needed)."""
    shape = (1, 8, 8) if task.dataset == "digits" else (1, 28, 28)
    return sum(p.numel() for p in build_network(task, shape, 0, hidden).parameters())


__all__ = ["FC_HIDDEN", "Classifier", "build_fc", "build_lenet", "build_network", "network_size"]
