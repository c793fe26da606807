"""Ray backend: sweep trials as Ray tasks, a direct-search population split across Ray actors.

Two levels, both optional and both giving the same numbers as the local backend:

* **Trials** (``run_trials``): each trial of a sweep is a Ray task that runs
  [`rlsub.execution.runner.execute_safely`][rlsub.execution.runner.execute_safely]; the driver (the sweep's main process) stays the only writer of
  the store. A task whose worker process dies is retried by Ray (``max_retries``); a trial is
  recorded once, when its task's result arrives.
* **Population** (``RayPopulationEvaluator``): a direct-search generation is split into
  contiguous member slices evaluated by Ray actors. Each actor rebuilds θ_0 and P from the trial's
  config (D, d, seed); only θ_d arrays and episode seeds travel. An actor that dies is restarted
  and its call retried (``max_restarts`` / ``max_task_retries``); evaluation is a pure function
  of (θ_d, episodes, seed), so a retry returns the same numbers.

Exactness of the split. ``PopulationEvaluator`` lays out member m's episode e in env copy
``m * episodes + e`` of one vector env reset with one seed. A slice reproduces that layout:

* vector envs that seed copy i with ``seed + i`` (Gymnasium Sync/Async vector envs, ale-py's
  ``AtariVectorEnv``) get a vector env of the slice's size reset with ``seed + first copy``;
* any other vector env (e.g. ``CartPoleVectorEnv``, whose initial states all come from one RNG
  draw of shape ``[4, num_envs]``) is built at the full size and reset with the same seed; only
  the slice's copies are driven by the policy, the others get a valid filler action and are
  ignored (copies are independent, and states drawn at autoreset are never counted).

θ_0 + P θ_d is computed for the whole population in every actor (the same matrix shapes as a
local evaluation, so bit-identical parameters); the forward pass runs on the slice only.

Ray must be started by the caller (``ray_session``) or reachable at ``address``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from rlsub import trial
from rlsub.agents import METHODS
from rlsub.errors import ConfigError, NonFiniteReturn
from rlsub.evaluation.population import EvalResult, PopulationEvaluator
from rlsub.execution.runner import execute, execute_safely, stream_safely
from rlsub.tasks import resolve_task
from rlsub.trial import TrialConfig, TrialContext

log = logging.getLogger(__name__)

#: Ray retries of a trial task whose worker process died (system failures only: a Python
#: exception inside a trial is already turned into a crash row by ``execute_safely``).
TRIAL_MAX_RETRIES = 2
#: Restarts of a population actor that died, and retries of the call it was running.
ACTOR_MAX_RESTARTS = 2


def _require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'rlsub[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to Ray at ``address`` (None: start a local instance) for the duration of the block.

    Leaves an already-initialised Ray alone (and does not shut it down).
    """
    ray = _require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if address:
        kwargs["address"] = address
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus() -> int:
    """CPUs of the connected Ray cluster (at least 1)."""
    ray = _require_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# -- population level ---------------------------------------------------------------------


class SliceEvaluator:
    """Evaluates members ``lo:hi`` of a population exactly as ``PopulationEvaluator`` would
    (``PopulationEvaluator.evaluate(..., members=(lo, hi))``)."""

    def __init__(self, base: PopulationEvaluator) -> None:
        self.base = base

    def close(self) -> None:
        self.base.close()

    def evaluate(self, thetas: np.ndarray | torch.Tensor, lo: int, hi: int, episodes: int, seed: int) -> EvalResult:
        """Returns ``[hi - lo, episodes]`` of members ``lo:hi`` of ``thetas`` (the whole population)."""
        return self.base.evaluate(thetas, episodes, seed, members=(lo, hi))


class EvalWorker:
    """Body of a population actor: rebuilds the trial's policy subspace from its config.

    ``config`` is ``TrialConfig.to_dict()``: θ_0 comes from the policy spec and seed, P from
    (D, d, seed), exactly as in the trial's own process.
    """

    def __init__(self, config: dict[str, Any], threads: int = 1) -> None:
        # One intra-op thread per actor: the actors already occupy the CPUs Ray gave them.
        torch.set_num_threads(max(1, threads))
        cfg = TrialConfig.from_dict(config)
        ctx = TrialContext(cfg, resolve_task(cfg.env, cfg.env_def))
        self.evaluator = SliceEvaluator(PopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec, ctx.device))

    def evaluate(self, thetas: np.ndarray, lo: int, hi: int, episodes: int, seed: int) -> tuple[np.ndarray, int]:
        res = self.evaluator.evaluate(thetas, lo, hi, episodes, seed)
        return res.returns, res.steps

    def pid(self) -> int:
        return os.getpid()


def split_bounds(pop: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous, nearly equal member slices ``[(lo, hi), ...]`` (no empty ones)."""
    parts = max(1, min(parts, pop))
    edges = np.linspace(0, pop, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class RayPopulationEvaluator(PopulationEvaluator):
    """A ``PopulationEvaluator`` whose populations are split across ``num_actors`` Ray actors.

    Keeps the trial's own subspace (``.subspace``: D, d, gradient methods, wrappers such as ES's
    observation normaliser) and evaluates single candidates locally; larger populations go to the
    actors, created on first use and killed by ``close``.
    """

    def __init__(self, task, subspace, spec, device, config: dict[str, Any], num_actors: int,
                 threads: int = 1, worker_cls: type = EvalWorker) -> None:
        super().__init__(task, subspace, spec, device)
        self.config = config
        self.num_actors = max(1, int(num_actors))
        self.threads = threads
        self.worker_cls = worker_cls
        self._actors: list[Any] = []

    def _ensure_actors(self, pop: int) -> list[Any]:
        """Up to ``num_actors`` actors, never more than the largest population seen (each actor
        builds the trial's network and envs, so idle ones would only cost start-up time)."""
        ray = _require_ray()
        want = min(self.num_actors, pop)
        if len(self._actors) < want:
            actor = ray.remote(self.worker_cls).options(
                num_cpus=self.threads, max_restarts=ACTOR_MAX_RESTARTS, max_task_retries=ACTOR_MAX_RESTARTS)
            self._actors += [actor.remote(self.config, self.threads) for _ in range(want - len(self._actors))]
        return self._actors[:want]

    def evaluate(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int) -> EvalResult:
        arr = thetas.detach().cpu().numpy() if torch.is_tensor(thetas) else np.asarray(thetas)
        pop = int(arr.reshape(-1, self.subspace.d).shape[0])
        if pop < 2:
            return super().evaluate(arr, episodes, seed)
        ray = _require_ray()
        actors = self._ensure_actors(pop)
        ref = ray.put(arr)
        calls = [actors[i].evaluate.remote(ref, lo, hi, episodes, seed)
                 for i, (lo, hi) in enumerate(split_bounds(pop, len(actors)))]
        try:
            parts = ray.get(calls)
        except ray.exceptions.RayTaskError as e:
            # Keep the trial's failure kind (e.g. NonFiniteReturn marks the trial failed, not crashed).
            if isinstance(e.cause, NonFiniteReturn):
                raise NonFiniteReturn(str(e.cause)) from None
            raise
        return EvalResult(np.concatenate([r for r, _ in parts]), sum(s for _, s in parts))

    def close(self) -> None:
        super().close()
        if self._actors:
            ray = _require_ray()
            for a in self._actors:
                ray.kill(a)
            self._actors = []


def _is_direct(method: str) -> bool:
    """Whether ``method`` is a direct search (ask/tell over θ_d): the methods whose populations split."""
    m = METHODS.get(method)
    return m is not None and m.family == "direct"


def population_factory(num_actors: int, threads: int = 1,
                       worker_cls: type = EvalWorker) -> Callable[[TrialContext], PopulationEvaluator | None]:
    """An evaluator factory for [`rlsub.trial.EVALUATOR_FACTORY`][rlsub.trial.EVALUATOR_FACTORY]: direct-search trials get a
    ``RayPopulationEvaluator``; other methods (gradient agents) keep the local evaluator."""

    def make(ctx: TrialContext) -> PopulationEvaluator | None:
        if num_actors < 1 or not _is_direct(ctx.config.method):
            return None
        return RayPopulationEvaluator(ctx.task, ctx.subspace(), ctx.spec, ctx.device, ctx.config.to_dict(),
                                      num_actors, threads, worker_cls)

    return make


@contextlib.contextmanager
def ray_populations(num_actors: int, threads: int = 1, worker_cls: type = EvalWorker) -> Iterator[None]:
    """Within the block, direct-search trials run in this process split populations over Ray actors."""
    previous = trial.EVALUATOR_FACTORY
    trial.EVALUATOR_FACTORY = population_factory(num_actors, threads, worker_cls) if num_actors >= 1 else None
    try:
        yield
    finally:
        trial.EVALUATOR_FACTORY = previous


def execute_on_ray(config: TrialConfig, data_dir: str | None = None,
                   address: str | None = None, num_actors: int | None = None) -> dict[str, Any]:
    """``rlsub run --backend ray``: run one trial in this process, its direct-search populations
    split over ``num_actors`` Ray actors (default: one per cluster CPU). Returns its outcome
    ([`rlsub.execution.runner.execute`][rlsub.execution.runner.execute]) for the caller to commit."""
    with ray_session(address):
        with ray_populations(num_actors or cluster_cpus()):
            return execute(config, data_dir)


# -- trial level ---------------------------------------------------------------------------


def _trial_task(config: TrialConfig, data_dir: str | None, eval_actors: int, threads: int) -> dict[str, Any]:
    """A Ray task: one trial, optionally splitting its populations over ``eval_actors`` actors.
    Returns the outcome (row and θ_d); the driver writes the solution and the row."""
    torch.set_num_threads(max(1, threads))
    with ray_populations(eval_actors, threads):
        return execute_safely(config, data_dir)


def _group_task(configs: list[TrialConfig], data_dir: str | None) -> Iterator[tuple[int, dict[str, Any]]]:
    """A Ray streaming task: a unit of trials run together (a lockstep group, or ``--batch-seeds``
    seeds), yielding ``(index, outcome)`` the moment each trial finishes."""
    torch.set_num_threads(1)
    yield from stream_safely(configs, data_dir)


def run_trials(
    todo: Sequence[TrialConfig | list[TrialConfig]],
    data_dir: str | None,
    record: Callable[[TrialConfig, dict], None],
    workers: int | None = None,
    eval_actors: int | None = None,
    max_retries: int = TRIAL_MAX_RETRIES,
    trial_fn: Callable[..., dict[str, Any]] = _trial_task,
    group_fn: Callable[..., Iterator[tuple[int, dict[str, Any]]]] = _group_task,
) -> None:
    """Run ``todo`` as Ray tasks on the connected cluster; ``record(cfg, outcome)`` each result here
    (workers write nothing: a cluster without a shared disk works).

    An item of ``todo`` that is a list of configs ([`rlsub.sweeps.run.plan_units`][rlsub.sweeps.run.plan_units]: a lockstep group, or
    seeds trained together) runs as one streaming task that records each trial as it finishes.

    ``workers``: trials in flight at once (default: the cluster's CPUs, or fewer when populations
    are split). ``eval_actors``: actors per direct-search trial (0: none; None: share the CPUs
    left over by the trials, i.e. ``CPUs // len(todo)`` when that is at least 2).
    A trial whose task still fails after ``max_retries`` (worker deaths) is reported as a crash row,
    not stored, so a rerun of the sweep retries it.
    """
    ray = _require_ray()
    if not todo:
        return
    cpus = cluster_cpus()
    if eval_actors is None:
        eval_actors = cpus // len(todo) if cpus // len(todo) >= 2 else 0
    per_trial = max(1, eval_actors)
    in_flight = max(1, min(workers or cpus, cpus // per_trial if cpus >= per_trial else 1, len(todo)))
    task = ray.remote(trial_fn)
    group_task = ray.remote(num_returns="streaming")(group_fn)
    units = [list(u) if isinstance(u, list) else [u] for u in todo]
    # A trial that splits its populations only waits on its actors: it holds no CPU itself, so the
    # CPUs its actors need are never held by their own (or another waiting) trial. Gradient methods
    # keep their local evaluator and hold one CPU.
    splits = {cfg.key(): bool(eval_actors) and _is_direct(cfg.method) for u in units for cfg in u}
    log.info("ray: %d trials, %d in flight, %d population actors each, %d CPUs", len(todo), in_flight,
             eval_actors, cpus)
    queue = units
    # A group task streams (index, outcome) as each of its trials finishes; ``seen`` drops the ones a
    # retried stream (its worker died) sends again.
    pending: dict[Any, tuple[list[TrialConfig], set[int]]] = {}
    try:
        while queue or pending:
            while queue and len(pending) < in_flight:
                unit = queue.pop(0)
                if len(unit) > 1:
                    ref = group_task.options(num_cpus=1, max_retries=max_retries).remote(unit, data_dir)
                else:
                    split = splits[unit[0].key()]
                    ref = task.options(num_cpus=0 if split else 1, max_retries=max_retries).remote(
                        unit[0], data_dir, eval_actors if split else 0, 1)
                pending[ref] = (unit, set())
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                unit, seen = pending[ref]
                try:
                    if len(unit) > 1:
                        i, row = ray.get(next(ref))
                    else:
                        i, row = 0, ray.get(ref)
                        del pending[ref]
                except StopIteration:
                    del pending[ref]
                    continue
                except ray.exceptions.RayError as e:  # retries exhausted: report, do not store
                    pending.pop(ref, None)
                    for j, cfg in enumerate(unit):
                        if j not in seen:
                            record(cfg, {"crash": f"{type(e).__name__}: {e}"})
                    continue
                if i not in seen:
                    seen.add(i)
                    record(unit[i], row)
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise


__all__ = [
    "EvalWorker", "RayPopulationEvaluator", "SliceEvaluator", "cluster_cpus", "execute_on_ray", "population_factory",
    "ray_populations", "ray_session", "run_trials", "split_bounds",
]
