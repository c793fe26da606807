"""Lockstep: the direct-search trials of a sweep that share a task and network run as one batch.

A sweep's CMA-ES/ES trials are small: a population of 4–40 members × 1–2 episodes per
generation, so alone each env step is a tiny batch. Here each trial is a generator
([`rlsub.agents.direct_search.direct_search`][rlsub.agents.direct_search.direct_search]) that yields its evaluations; every evaluation of every live trial
becomes a ``RolloutRequest`` of one shared ``SlotRollout``: one env with ``slots`` copies, every
live episode a copy, every copy's member a row of one stacked MLP forward (its own θ_0 + Pθ_d,
projected once per request with that trial's own projection). A trial gets its result as soon as
its request's episodes are done and immediately queues the next one; trials end independently
(early stop, budget, pycma's stop) and waiting trials take their places, so the copies stay busy.

Exactness: a request's episode seeds depend only on its trial (seed, request kind, generation),
parameters are projected per trial exactly as alone, and a row of the stacked forward does not
depend on the other rows: on the CPU it is the fixed-order compiled forward (no BLAS, so no kernel
chosen by batch size or by a row's address). So a trial's result, curve and info are the same whatever
shares its batch, by construction on any CPU (docs/guide/determinism.md; ``tests/test_lockstep.py`` and
``tests/test_cpu_invariance.py`` check trials against their lone runs, bit for bit). DQN trials with
``engine=batched`` are exact the same way (``rlsub.agents.dqn.batched``).

Sweep integration::

    for group in group_for_lockstep(configs, groups=workers):   # a group per worker / Ray task, or more
        for config, outcome in run_lockstep(group, trial_context): # as each trial finishes
            ...  # outcome: TrialResult, or the NonFiniteReturn that failed the trial
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from rlsub.agents import ars, cmaes, es
from rlsub.agents.direct_search import Evaluation, Search, run_search
from rlsub.agents.dqn.engines import run_group
from rlsub.envs import register_from_config, resolve_env
from rlsub.errors import NonFiniteReturn
from rlsub.evaluation.slot_envs import slot_env
from rlsub.evaluation.slot_rollout import SlotRollout
from rlsub.trial import TrialConfig, TrialContext, TrialResult
from rlsub.utils.seeding import derive_seed


def _searches() -> dict[str, Callable[[TrialContext], Search]]:
    return {"ars": ars.search, "cmaes": cmaes.search, "es": es.search}


#: Methods whose trials can run in lockstep (their trial generators).
LOCKSTEP_METHODS = ("ars", "cmaes", "es")

#: Default number of env copies of a lockstep rollout (episodes live at once). Each copy holds its
#: member's parameters; ~128 CartPole MLPs (18 KB each) stay in a core's L2 cache.
DEFAULT_SLOTS = 128


def lockstep_key(config: TrialConfig) -> tuple | None:
    """Trials with equal keys can share a rollout (same env and network family), or, for DQN trials
    with ``engine=batched``, one batched training ([`rlsub.agents.dqn.batched`][rlsub.agents.dqn.batched]); None: never."""
    env_def = _env_def(config)
    if config.method not in LOCKSTEP_METHODS and not (config.method == "dqn" and _dqn_engine(config) == "batched"):
        return None
    return (config.method == "dqn", config.env, env_def, config.hidden, config.family, config.device)


def _env_def(config: TrialConfig) -> str | None:
    return json.dumps(config.env_def, sort_keys=True, default=str) if config.env_def else None


def _dqn_engine(config: TrialConfig) -> str | None:
    """The DQN engine a trial asks for: its own ``engine`` parameter, else its task preset's."""
    params = dict(config.params)
    if "engine" in params:
        return str(params["engine"])
    params = getattr(_preset(config.env, _env_def(config)), "method_params", None) or {}
    return params.get("dqn", {}).get("engine")


@functools.lru_cache(maxsize=256)
def _preset(env: str, env_def: str | None):
    """The env's preset (None: no env of that name; a supervised task's name is none, as it should be)."""
    try:
        if env_def:
            register_from_config(json.loads(env_def))
        return resolve_env(env).preset
    except Exception:  # noqa: BLE001 - an unresolvable env fails in its trial, with its own message
        return None


#: Most env steps (summed trial budgets) one lockstep group holds. A group's trials advance together and
#: finish together, so a group killed mid-way loses all of its trials' work: this bounds that loss (about
#: 18 CPU-min for MuJoCo at ~53 s per million steps) while leaving cheap sweeps whole (the README's main job
#: is 0.9M per group). ``benchmarks/lockstep_groups.py`` measures what smaller groups cost.
MAX_GROUP_STEPS = 20_000_000


def group_for_lockstep(configs: Iterable[TrialConfig], groups: int = 1,
                       max_steps: int | None = MAX_GROUP_STEPS) -> list[list[TrialConfig]]:
    """Split ``configs`` into lockstep groups, each to be run by one ``run_lockstep`` call.

    Trials of one ``lockstep_key`` are dealt round-robin into ``min(groups, n)`` groups (one per
    worker: a worker's group is one batched computation), or into more where their budgets add up to
    over ``max_steps`` env steps per group (None: no limit); the number of groups is then a multiple
    of the workers', so none waits idle at the end. Trials that cannot run in lockstep (other methods)
    are groups of one. Order within a group follows ``configs``.
    """
    groups = max(1, int(groups))
    by_key: dict[tuple, list[TrialConfig]] = {}
    out: list[list[TrialConfig]] = []
    for c in configs:
        key = lockstep_key(c)
        if key is None:
            out.append([c])
        else:
            by_key.setdefault(key, []).append(c)
    for members in by_key.values():
        workers = min(groups, len(members))
        n = workers
        if max_steps:
            needed = math.ceil(sum(_budget(c) for c in members) / max_steps)
            n = min(len(members), math.ceil(max(workers, needed) / workers) * workers)
        out += [members[i::n] for i in range(n)]
    return out


def _budget(config: TrialConfig) -> int:
    """A trial's env-step budget: its own, else its task preset's (0 where none can be found)."""
    if config.budget:
        return int(config.budget)
    return int(getattr(_preset(config.env, _env_def(config)), "budget", 0) or 0)


@dataclass
class LockstepStats:
    """What a ``run_lockstep`` call did: copy-steps stepped and episode steps counted (every
    evaluation's, final tests included), batch steps, wall time and the part spent in the rollout."""

    stepped: int = 0
    counted: int = 0
    iterations: int = 0
    trials: int = 0
    alone: int = 0
    """Trials that could not join the rollout (run one at a time instead)."""
    wall: float = 0.0
    rollout_wall: float = 0.0
    """Seconds inside the rollout (policy forward, env steps, scheduling); the rest is the trials'
    own work (optimizer ask/tell, projections, final bookkeeping)."""
    slots: int = 0

    @property
    def mean_batch(self) -> float:
        """Mean number of live episodes per batch step."""
        return self.stepped / self.iterations if self.iterations else 0.0


class _Trial:
    def __init__(self, config: TrialConfig, ctx: TrialContext, search: Search) -> None:
        self.config, self.ctx, self.search = config, ctx, search


def run_lockstep(configs: Iterable[TrialConfig], context: Callable[[TrialConfig], TrialContext],
                 slots: int = DEFAULT_SLOTS, max_active: int | None = None, stats: LockstepStats | None = None,
                 ) -> Iterator[tuple[TrialConfig, TrialResult | NonFiniteReturn]]:
    """Run direct-search trials together; yields ``(config, outcome)`` as each trial finishes.

    ``outcome`` is the trial's ``TrialResult`` (the same as running it alone), or the
    ``NonFiniteReturn`` that ended it (its env returned NaN/inf: record it as failed). Other
    errors (``ConfigError`` for a bad hyper-parameter, bugs) propagate. ``max_active`` caps the
    trials in flight (None: all of them start at once; their queued episodes wait for copies).
    The rollout is the first trial's env; trials of another env (``lockstep_key`` or env settings
    differ) or network run alone, in order (``group_for_lockstep`` avoids that). ``stats``, if
    given, is filled in. A trial's ``wall_time`` runs from its start to its result, time shared
    with the trials it ran beside included. ``context`` builds a trial's ``TrialContext`` (the task's
    own [`run_stream`][rlsub.tasks.rl.EnvTask.run_stream] passes it; [`trial_context`][rlsub.tasks.trial_context] resolves the task by name).
    """
    configs = list(configs)
    if any(c.method == "dqn" for c in configs):  # DQN trials train as one batch of their own
        yield from run_group([c for c in configs if c.method == "dqn"], context)
        configs = [c for c in configs if c.method != "dqn"]
    stats = stats if stats is not None else LockstepStats()
    stats.slots = int(slots)
    t0 = time.perf_counter()
    pending = deque(configs)
    searches = _searches()
    rollout: SlotRollout | None = None
    group: tuple | None = None  # lockstep_key and env settings of the rollout's trials
    live: dict[int, _Trial] = {}

    def submit(trial: _Trial, ev: Evaluation) -> None:
        seed = derive_seed(trial.ctx.seed, *ev.stream)  # ctx.evaluate's seeds
        req = trial.ctx.evaluator.request(ev.thetas, ev.episodes, seed, owner=trial)
        assert rollout is not None
        rollout.submit(req)

    try:
        while True:
            while pending and (max_active is None or len(live) < max_active):
                config = pending.popleft()
                if config.method not in searches:
                    raise ValueError(f"method {config.method!r} cannot run in lockstep (one of {', '.join(searches)})")
                ctx = context(config)
                stats.trials += 1
                try:
                    search = searches[config.method](ctx)
                except BaseException:
                    ctx.close()
                    raise
                ev = ctx.evaluator
                here = (lockstep_key(config), ctx.task.settings())
                if rollout is None and ev.mlp_signature() is not None:
                    env = slot_env(ctx.task, slots)
                    if env is not None:
                        rollout = SlotRollout(env, ev.mlp_signature(), ctx.spec.action, _obs_size(ctx),
                                              ctx.task.max_episode_steps, ctx.task.name,
                                              slots, ctx.device)
                        group = here
                if rollout is None or here != group or not _fits(rollout, ctx):
                    stats.alone += 1
                    try:
                        yield config, run_search(ctx, search)
                    except NonFiniteReturn as e:
                        yield config, e
                    finally:
                        ctx.close()
                    continue
                trial = _Trial(config, ctx, search)
                live[id(trial)] = trial
                submit(trial, next(search))
            if rollout is None or not rollout.busy:
                break
            t = time.perf_counter()
            done = rollout.advance()
            stats.rollout_wall += time.perf_counter() - t
            for req in done:
                trial = req.owner
                try:
                    res = trial.ctx.evaluator.collect(req)
                except NonFiniteReturn as e:
                    _retire(live, trial)
                    yield trial.config, e
                    continue
                try:
                    nxt = trial.search.send(res)
                except StopIteration as stop:
                    _retire(live, trial)
                    yield trial.config, stop.value
                    continue
                submit(trial, nxt)
    finally:
        for trial in list(live.values()):
            _retire(live, trial)
        if rollout is not None:
            stats.stepped += rollout.stepped
            stats.counted += rollout.counted
            stats.iterations += rollout.iterations
            rollout.close()
        stats.wall = time.perf_counter() - t0


def _obs_size(ctx: TrialContext) -> int:
    n = 1
    for s in ctx.spec.obs_shape:
        n *= int(s)
    return n


def _fits(rollout: SlotRollout, ctx: TrialContext) -> bool:
    """Whether ``ctx``'s trial can share ``rollout`` (whose env is already known to be its own):
    same MLP signature, action head, observation size, episode cap and device."""
    return (ctx.evaluator.mlp_signature() == rollout.signature and ctx.spec.action == rollout.action
            and _obs_size(ctx) == rollout.obs_size and ctx.task.max_episode_steps == rollout.max_steps
            and ctx.device == rollout.device)


def _retire(live: dict[int, _Trial], trial: _Trial) -> None:
    live.pop(id(trial), None)
    trial.search.close()
    trial.ctx.close()


__all__ = ["DEFAULT_SLOTS", "LOCKSTEP_METHODS", "MAX_GROUP_STEPS", "LockstepStats", "group_for_lockstep", "lockstep_key", "run_lockstep"]
