"""Rebuild a saved solution (θ_0 and P from its spec and seed) and re-evaluate it."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from rlsub.errors import ConfigError, SolutionError
from rlsub.solution import load_solution
from rlsub.tasks import is_supervised
from rlsub.trial import TrialConfig, TrialContext


@dataclass
class ReplayReport:
    """Outcome of re-evaluating a solution next to what the trial recorded."""

    path: str
    env: str
    D: int
    d: int
    returns: list[float]
    recorded: float | None
    same_seeds: bool
    kind: str = "rl"

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.env}, D={self.D}, d={self.d} (compression {self.D / self.d:.1f}x)",
        ]
        if self.kind == "supervised":
            lines.append(f"  replayed: test accuracy {self.mean:.6g}")
        else:
            lines.append(
                f"  replayed: {self.mean:.6g} (mean of {len(self.returns)} episodes"
                + (", the trial's own evaluation seeds)" if self.same_seeds else ", fresh seeds)")
            )
        if self.recorded is not None:
            lines.append(f"  recorded: {self.recorded:.6g}")
        return "\n".join(lines)


def replay(path: str | os.PathLike, episodes: int | None = None, seed: int = 0,
           data_dir: str | None = None) -> ReplayReport:
    """Re-evaluate a solution; without ``episodes`` it reuses the trial's evaluation seeds."""
    sol = load_solution(path)
    try:
        config = TrialConfig.from_dict(sol.config)
    except (TypeError, ValueError, ConfigError) as e:
        raise SolutionError(f"solution file {sol.path}: bad trial config: {e}") from None
    recorded = sol.metrics.get("final_mean")
    if is_supervised(config.env):
        acc = _supervised_accuracy(config, sol, data_dir)
        return ReplayReport(str(sol.path), config.env, sol.D, sol.d, [acc], recorded, True, "supervised")
    ctx = TrialContext(config)
    try:
        if ctx.policy.D != sol.D or ctx.policy.d != sol.d:
            raise SolutionError(
                f"solution file {sol.path}: rebuilt network has D={ctx.policy.D}, d={ctx.policy.d} "
                f"but the file says D={sol.D}, d={sol.d}"
            )
        if sol.extra and sol.extra.get("obs_norm"):
            _apply_obs_norm(ctx, sol)
        if episodes is None:
            returns = ctx.final_test(sol.theta_d)
        else:
            res = ctx.evaluate(sol.theta_d[None], episodes, "replay", seed)
            returns = [float(r) for r in res.returns[0]]
    finally:
        ctx.close()
    return ReplayReport(str(sol.path), config.env, sol.D, sol.d, returns, recorded, episodes is None)


def _supervised_accuracy(config: TrialConfig, sol, data_dir: str | None) -> float:
    """Test accuracy of a supervised solution, rebuilt from its spec and seed."""
    import torch

    from rlsub.datasets import load_dataset
    from rlsub.subspace import Subspace
    from rlsub.supervised import build_network, evaluate_subspace, resolve_task

    task = resolve_task(config.env)
    data = load_dataset(task.dataset, data_dir)
    net = build_network(task, data.image_shape, config.seed, config.hidden)
    sub = Subspace(net, config.dim, config.projection_name, config.seed)
    if sub.D != sol.D or sub.d != sol.d:
        raise SolutionError(f"solution file {sol.path}: rebuilt network has D={sub.D}, d={sub.d} "
                            f"but the file says D={sol.D}, d={sol.d}")
    _, _, x_test, y_test = data.tensors(torch.device("cpu"))
    return evaluate_subspace(sub, x_test, y_test, torch.as_tensor(sol.theta_d))


def _apply_obs_norm(ctx: TrialContext, sol) -> None:
    """Standardise observations with the statistics frozen at the end of training (ES ``obs_norm``)."""
    from rlsub.agents.es import NormalizedEvaluator

    stats = sol.extra["obs_norm"]
    shape = tuple(ctx.spec.obs_shape)
    try:
        mean = np.asarray(stats["mean"], dtype=np.float64).reshape(shape)
        std = np.asarray(stats["std"], dtype=np.float64).reshape(shape)
    except (KeyError, TypeError, ValueError) as e:
        raise SolutionError(f"solution file {sol.path}: malformed obs_norm statistics: {e}") from None
    norm = NormalizedEvaluator(ctx.evaluator)
    ctx.evaluator.close()
    norm.frozen_mean, norm.frozen_std = mean, std
    ctx.use_evaluator(norm)
