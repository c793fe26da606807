"""The training recipe of supervised trials: hyper-parameters from ``TrialConfig.params``.

All are optional (``SupervisedParams``):

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

A new optimizer is a name in ``OPTIMIZERS``, its defaults here and a branch in ``make_optimizer``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from rlsub.errors import ConfigError
from rlsub.supervised.classifiers import Classifier
from rlsub.trial import TrialConfig


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


def resolve_recipe(config: TrialConfig, task: Classifier, train_size: int) -> Recipe:
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
    """The recipe's optimizer over ``params`` (element-wise, so one over a stacked [B, d] θ is B independent ones)."""
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum)


__all__ = ["OPTIMIZERS", "PARAM_NAMES", "SUPERVISED_METHODS", "Recipe", "SupervisedParams", "make_optimizer", "resolve_recipe"]
