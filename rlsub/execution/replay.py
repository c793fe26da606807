"""Rebuild a saved solution (θ_0 and P from its spec and seed) and re-evaluate it.

A replay on another machine (another CPU, BLAS, thread count) may not reproduce the trial's numbers bit
for bit (docs/guide/determinism.md), so the report never prints a re-evaluated number as the trial's: it
prints the replayed returns, the recorded ones, and how close they came (returns equal episode by episode,
or how many differ and by how much). Where the trial stored a probe (DQN: Q-values at 16 seeded
observations; supervised: logits of the first 16 test examples), the probe is recomputed here and the
report gives max |Δ| of the outputs and how many argmax choices (greedy actions, predicted classes) changed.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from rlsub.errors import ConfigError, SolutionError
from rlsub.solution import load_solution
from rlsub.tasks import resolve_task
from rlsub.tasks.base import EPISODE_RETURN
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
    measure: str = EPISODE_RETURN
    recorded_measure: str | None = None
    """What the recorded value measured when it is not the replayed measure (e.g. training episodes)."""
    recorded_returns: list[float] | None = None
    """The trial's own final returns (per episode), as stored with the solution."""
    probe: dict | None = None
    """The stored probe recomputed here: ``max_abs`` |Δ| of the outputs, ``argmax_changed`` of ``n`` inputs."""
    machine: str = ""
    """This machine's arithmetic (torch, CPU capability, BLAS, threads)."""

    @property
    def comparable(self) -> bool:
        """Whether the replay re-ran the trial's own evaluation (same seeds, same measure, same count)."""
        return (self.same_seeds and self.recorded_measure is None and self.recorded_returns is not None
                and len(self.recorded_returns) == len(self.returns))

    @property
    def differing(self) -> int | None:
        """Episodes (or accuracies) whose replayed value differs from the recorded one (None: not comparable)."""
        if not self.comparable:
            return None
        return int(sum(a != b for a, b in zip(self.returns, self.recorded_returns)))

    @property
    def matches(self) -> bool | None:
        """True: every replayed value equals the recorded one bit for bit (and the probe, if any)."""
        if not self.comparable:
            return None
        return self.differing == 0 and (self.probe is None or self.probe["max_abs"] == 0.0)

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    def __str__(self) -> str:
        lines = [
            f"{self.path}: {self.env}, D={self.D}, d={self.d} (compression {self.D / self.d:.1f}x)",
        ]
        if len(self.returns) == 1 and self.same_seeds:
            lines.append(f"  replayed: {self.measure} {self.mean:.6g}")
        else:
            lines.append(
                f"  replayed: {self.mean:.6g} (mean of {len(self.returns)} episodes"
                + (", the trial's own evaluation seeds)" if self.same_seeds else ", fresh seeds)")
            )
        if self.recorded is not None:
            what = f" ({self.recorded_measure}; not comparable with the replay)" if self.recorded_measure else ""
            lines.append(f"  recorded: {self.recorded:.6g}{what}")
        lines += self._closeness()
        return "\n".join(lines)

    def _closeness(self) -> list[str]:
        """How close the replay came to the trial (never the replayed number in the trial's place)."""
        lines = []
        n = len(self.returns)
        if self.comparable:
            k = self.differing
            if k == 0:
                what = "the replayed value equals the recorded one" if n == 1 else f"all {n} replayed values equal the recorded ones"
                lines.append(f"  match: {what} bit for bit")
            else:
                delta = max(abs(a - b) for a, b in zip(self.returns, self.recorded_returns))
                lines.append(f"  MISMATCH: {k} of {n} replayed values differ from the recorded ones "
                             f"(max |delta| {delta:.6g}); the trial's number is the recorded {self.recorded:.6g}, "
                             f"not the replayed {self.mean:.6g} (this machine rounds differently: "
                             "see docs/guide/determinism.md)")
        elif self.recorded_returns is not None and not self.recorded_measure:
            lines.append("  not compared: the replay ran other episodes than the trial's evaluation")
        if self.probe is None:
            lines.append("  probe: none stored with this solution (its method, or the rlsub that wrote it, records none)")
        else:
            p = self.probe
            if p["max_abs"] == 0.0:
                lines.append(f"  probe: {p['what']} at {p['n']} fixed inputs equal the stored ones bit for bit")
            else:
                lines.append(f"  probe: {p['what']} at {p['n']} fixed inputs differ from the stored ones by up to "
                             f"{p['max_abs']:.3g} (max |delta|); argmax changed on {p['argmax_changed']} of {p['n']}")
        if self.machine and (self.matches is False or (self.probe is not None and self.probe["max_abs"] != 0.0)):
            lines.append(f"  this machine: {self.machine}")
        return lines


def machine_description() -> str:
    """torch version, CPU capability, BLAS and thread count: what decides this machine's rounding."""
    blas = "MKL" if torch.backends.mkl.is_available() else "no MKL"
    return (f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, {blas}, "
            f"{torch.get_num_threads()} threads")


def compare_probe(stored, now, what: str) -> dict:
    """max |Δ| between stored and recomputed probe outputs ``[n, k]`` and how many argmaxes changed."""
    a, b = np.asarray(stored, dtype=np.float64), np.asarray(now, dtype=np.float64)
    if a.shape != b.shape:
        raise SolutionError(f"stored probe has shape {a.shape}, the rebuilt network gives {b.shape}")
    return {"what": what, "n": int(a.shape[0]), "max_abs": float(np.max(np.abs(a - b))) if a.size else 0.0,
            "argmax_changed": int(np.sum(a.argmax(-1) != b.argmax(-1)))}


def _probe(task, config: TrialConfig, sol, data_dir: str | None) -> dict | None:
    """The stored probe recomputed on this machine (None where the trial stored none)."""
    stored = sol.metrics.get("probe")
    if stored is None:
        return None
    if task.kind == "supervised":
        return compare_probe(stored, task.probe(config, sol, data_dir), "logits")
    if config.method == "dqn":
        from rlsub.agents.dqn.single import probe_q

        ctx = TrialContext(config, task)
        try:
            return compare_probe(stored, probe_q(ctx, sol.theta_d), "Q-values")
        finally:
            ctx.close()
    return None


def replay(path: str | os.PathLike, episodes: int | None = None, seed: int = 0,
           data_dir: str | None = None) -> ReplayReport:
    """Re-evaluate a solution; without ``episodes`` it reuses the trial's evaluation seeds."""
    sol = load_solution(path)
    try:
        config = TrialConfig.from_dict(sol.config)
    except (TypeError, ValueError, ConfigError) as e:
        raise SolutionError(f"solution file {sol.path}: bad trial config: {e}") from None
    task = resolve_task(config.env, config.env_def)
    if config.revision != task.revision:
        warnings.warn(f"{sol.path}: trained under revision {config.revision} of {config.env}'s protocol, this rlsub "
                      f"has revision {task.revision}: the replay rebuilds today's task and may not match", stacklevel=2)
    returns = task.replay(config, sol, episodes, seed, data_dir)
    measure = task.normalisation().measure
    recorded_measure = sol.metrics.get("measure")
    recorded_returns = sol.metrics.get("final_returns")
    return ReplayReport(str(sol.path), config.env, sol.D, sol.d, returns, sol.metrics.get("final_mean"),
                        episodes is None, measure, recorded_measure if recorded_measure not in (None, measure) else None,
                        [float(r) for r in recorded_returns] if recorded_returns is not None else None,
                        _probe(task, config, sol, data_dir), machine_description())
