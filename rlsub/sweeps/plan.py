"""A sweep resolved once: its experiments (task, D, network, projection) and its trial list.

``plan_sweep`` resolves every env of a ``SweepSpec`` a single time (a plug-in env is built and checked
once), types every method's hyper-parameters, checks d against each network's D and picks the
projection ``auto`` stands for; validation, the trial list, the projection notes and the run all read
the ``SweepPlan`` it returns. A typo fails here, before a store exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlsub.errors import ConfigError
from rlsub.policies.networks import check_mlp_init
from rlsub.projections import PROJECTIONS, explain_projection
from rlsub.results.store import Store
from rlsub.sweeps.spec import DEFAULT_PROJECTION, SweepSpec
from rlsub.tasks import resolve_task, typed_params
from rlsub.tasks.base import Task
from rlsub.trial import TrialConfig


@dataclass(frozen=True)
class Experiment:
    """One (env, method, width) of a sweep: its own baseline and its own d_int curve."""

    env: str
    method: str
    hidden: tuple[int, ...] | None
    task: Task
    D: int
    """The network's parameter count (the full-space dimension)."""
    network: str
    """The network in words (``task.network_label``)."""
    population: bool
    """Direct search (a population, forward only) rather than one θ_d with gradients."""
    params: tuple[tuple[str, Any], ...]
    """The method's typed hyper-parameters, sorted by name (as trials store them)."""
    auto: tuple[str, str] | None
    """What ``auto`` picks for this experiment's subspace trials and why; None when no trial asks for ``auto``."""
    init: str | None = None
    """θ_0's initialisation where it is not the preset's (``TrialConfig.init``)."""

    def projection(self, name: str) -> str:
        """The projection a subspace trial asking for ``name`` runs (``auto`` resolved)."""
        return self.auto[0] if name == "auto" and self.auto else name


@dataclass(frozen=True)
class SweepPlan:
    """A ``SweepSpec`` resolved: its experiments and every trial it asks for (deduplicated, in order)."""

    spec: SweepSpec
    experiments: list[Experiment]
    trials: list[TrialConfig]

    def projection_notes(self, store: Store) -> list[str]:
        """One line for each experiment whose projection ``auto`` chose (which one and why), and one more
        where ``store`` holds that experiment's subspace trials under other projections only: the new
        trials are their own group (``compute_dint`` never pools projections), not a silent repeat."""
        chosen = [e for e in self.experiments if e.auto]
        if not chosen:
            return []
        stored: dict[str, set[str]] = {}
        for row in store.rows(status=None):
            if not row.is_full:
                stored.setdefault(row.fingerprint, set()).add(row.projection)
        lines = []
        for e in chosen:
            proj, why = e.auto
            lines.append(f"projection: auto chose {proj} for {e.env} {e.method} ({why})")
            fp = next((t.fingerprint() for t in self.trials
                       if (t.env, t.method, t.hidden) == (e.env, e.method, e.hidden) and not t.is_full), None)
            before = sorted(stored.get(fp, set()))
            if before and proj not in before:
                lines.append(f"projection: the store's {e.env} {e.method} subspace trials used {', '.join(before)}, "
                             f"not {proj}: these {proj} trials are a group of their own (never pooled with them; "
                             f"the full-space baseline is shared); --projection {before[0]} extends those instead")
        return lines


def check_init(task, hidden: tuple[int, ...] | None, family: str | None, init: str | None) -> str | None:
    """``init`` as a trial stores it: None where it is the preset's own (the same θ_0 under the same key as
    an unset one); ConfigError unless ``task``'s policy (of this width and family) can take it."""
    if init is None:
        return None
    if not hasattr(task, "policy_spec"):
        raise ConfigError(f"init {init!r}: {task.name} is a supervised task, which builds its own network")
    check_mlp_init(task.policy_spec(hidden, family, init))
    own = check_mlp_init(task.policy_spec(hidden, family))
    return None if init == own else init


def plan_sweep(spec: SweepSpec) -> SweepPlan:
    """Resolve ``spec`` once into its experiments and trials; ConfigError on anything it cannot run."""
    names = spec.projections or [DEFAULT_PROJECTION]
    for p in names:
        if p not in PROJECTIONS and p != "auto":
            raise ConfigError(f"unknown projection {p!r}; choose one of auto, {', '.join(PROJECTIONS)}")
    if isinstance(spec.batch_seeds, bool) or not isinstance(spec.batch_seeds, int) or spec.batch_seeds < 1:
        raise ConfigError(f"batch_seeds must be an integer >= 1, got {spec.batch_seeds!r}")
    # 'auto' picks one projection per (env, method, width) from the largest d, so a d_int curve never
    # mixes projections.
    d_top = max((d for d in spec.dims if d is not None), default=None)
    experiments = []
    for env in spec.envs:
        task = resolve_task(env, spec.env_defs.get(env))
        for method in spec.methods:
            params = tuple(sorted(typed_params(task, method, spec.params.get(method, {})).items()))
            population = task.is_population_method(method)
            for hidden in spec.widths():
                init = check_init(task, hidden, spec.family, spec.init)
                D = task.native_dimension(hidden, spec.family)
                if d_top and d_top > D:
                    raise ConfigError(f"subspace dimension d={d_top} exceeds the network's parameter count D={D} ({env})")
                net = task.network_label(hidden, spec.family, init)
                auto = None
                if "auto" in names and d_top is not None:
                    proj, why = explain_projection(D, d_top, population)
                    auto = (proj, f"{net}, D = {D:,}, largest d = {d_top:,}: {why}")
                experiments.append(Experiment(env, method, hidden, task, D, net, population, params, auto, init))
    trials: dict[str, TrialConfig] = {}
    for e in experiments:
        for dim in spec.dims:
            for proj in names if dim is not None else ["identity"]:
                for seed in spec.seeds:
                    cfg = TrialConfig(
                        env=e.env, method=e.method, dim=dim,
                        projection=e.projection(proj) if dim is not None else "dense",
                        seed=seed, budget=spec.budget, episodes=spec.episodes,
                        eval_episodes=spec.eval_episodes, hidden=e.hidden, family=spec.family, init=e.init,
                        params=e.params, device=spec.device, env_def=spec.env_defs.get(e.env),
                        revision=e.task.revision,
                    )
                    trials.setdefault(cfg.key(), cfg)
    return SweepPlan(spec, experiments, list(trials.values()))
