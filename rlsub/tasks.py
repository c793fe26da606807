"""One registry view over RL envs and supervised tasks: ``--env`` and ``--task`` name the same thing."""

from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True)
class TaskInfo:
    """What d_int needs to know about a task: its kind and how to normalise its performance."""

    name: str
    kind: str
    """``rl`` (performance = episode return) or ``supervised`` (performance = test accuracy)."""
    return_low: float
    return_best: float | None
    solved_threshold: float | None
    description: str = ""


def supervised_tasks() -> dict:
    """The supervised task registry (empty if the supervised module is unavailable)."""
    try:
        from rlsub.supervised import TASKS
    except ImportError:
        return {}
    return TASKS


def is_supervised(name: str) -> bool:
    return name in supervised_tasks()


def task_info(name: str, env_def: dict | None = None) -> TaskInfo:
    """Look up an RL env (preset or Gymnasium id) or a supervised task by name.

    ``env_def`` is a registration table stored with trials (TOML ``[[envs]]``) that defines
    ``name`` when this process has not registered it yet.
    """
    sup = supervised_tasks()
    if name in sup:
        t = sup[name]
        return TaskInfo(name, "supervised", t.return_low, t.return_best, t.solved_threshold, t.description)
    from rlsub.envs import register_from_config, resolve_env

    if env_def:
        register_from_config(dict(env_def))
    p = resolve_env(name).preset
    return TaskInfo(name, "rl", p.return_low, p.return_best, p.solved_threshold, p.description)


def default_method(name: str) -> str:
    """``adam`` for supervised tasks, ``cmaes`` for RL envs."""
    return "adam" if is_supervised(name) else "cmaes"


def validate_method(name: str, method: str) -> None:
    """Raise ConfigError unless ``method`` can train task ``name``."""
    from rlsub.errors import ConfigError

    if is_supervised(name):
        from rlsub.supervised import SUPERVISED_METHODS

        if method not in SUPERVISED_METHODS:
            raise ConfigError(
                f"supervised task {name} is trained by gradient descent: method must be one of "
                f"{', '.join(SUPERVISED_METHODS)}, got {method!r}"
            )
        return
    from rlsub.agents import get_method

    get_method(method)


def native_dimension(name: str, hidden: tuple[int, ...] | None = None, family: str | None = None,
                     env_def: dict | None = None) -> int:
    """D: the parameter count of the network a trial on task ``name`` trains."""
    if is_supervised(name):
        from rlsub.supervised import parameter_count

        return parameter_count(name, hidden)
    from rlsub.envs import register_from_config, resolve_env

    if env_def:
        register_from_config(dict(env_def))
    net = resolve_env(name).policy_spec(hidden, family).build(0)
    return sum(p.numel() for p in net.parameters())


def resolve_projection(projection: str, name: str, dim: int | None, method: str,
                       hidden: tuple[int, ...] | None = None, family: str | None = None,
                       env_def: dict | None = None) -> str:
    """``projection``, with ``auto`` replaced by ``choose_projection``'s pick for this trial."""
    if projection != "auto" or dim is None:
        return projection
    from rlsub.projections import choose_projection

    population = False
    if not is_supervised(name):
        from rlsub.agents import METHODS

        population = method in METHODS and METHODS[method].family == "direct"
    return choose_projection(native_dimension(name, hidden, family, env_def), dim, population)
