"""Find the task a name means: a supervised dataset task, or an RL env (preset, Gymnasium id,
``module:Class``, TOML registration). Everything else talks to the [`rlsub.tasks.base.Task`][rlsub.tasks.base.Task] it returns.

One file per task kind: ``rl.py`` (``EnvTask``: an env of [`rlsub.envs`][rlsub.envs] made measurable) and
``supervised.py`` (``SupervisedTask``: a classifier on a dataset). A new kind is a new file here
that implements [`rlsub.tasks.base.Task`][rlsub.tasks.base.Task], plus one line in ``resolve_task``.
"""

from __future__ import annotations

from typing import Any

from rlsub.envs import register_from_config
from rlsub.errors import ConfigError
from rlsub.projections import choose_projection
from rlsub.tasks.base import Task
from rlsub.tasks.method_params import check_config, parse_params
from rlsub.tasks.rl import env_task
from rlsub.tasks.supervised import SUPERVISED_TASKS
from rlsub.trial import TrialConfig, TrialContext, TrialResult


def resolve_task(name: str, env_def: dict[str, Any] | None = None) -> Task:
    """The task called ``name``. ``env_def`` is a TOML registration stored with trials that defines
    ``name`` when this process has not registered it yet. Unknown names raise ConfigError."""
    if name in SUPERVISED_TASKS:
        return SUPERVISED_TASKS[name]
    if env_def:
        register_from_config(dict(env_def))
    return env_task(name)


def check_method(task: Task, method: str) -> None:
    """ConfigError unless ``method`` can train ``task``."""
    names = task.method_names()
    if method not in names:
        raise ConfigError(f"{task.name} is trained by one of {', '.join(names)}; unknown method {method!r}")


def typed_params(task: Task, method: str, raw: dict[str, Any]) -> dict[str, Any]:
    """``--param``/TOML values of ``method`` typed against its config (ConfigError when unknown or wrong)."""
    check_method(task, method)
    cls = task.method_params(method)
    typed = parse_params(cls, raw, method)
    preset = getattr(getattr(task, "preset", None), "method_params", None) or {}
    check_config(cls, typed, method, preset.get(method))
    return typed


def resolve_projection(projection: str, task: Task, dim: int | None, method: str,
                       hidden: tuple[int, ...] | None = None, family: str | None = None) -> str:
    """``projection``, with ``auto`` replaced by ``choose_projection``'s pick for this trial."""
    if projection != "auto":
        return projection
    if dim is None:  # a full-space trial runs the identity whatever it names; "dense" is what the old default stored
        return "dense"
    return choose_projection(task.native_dimension(hidden, family), dim, task.is_population_method(method))


def run_trial(config: TrialConfig, data_dir: str | None = None) -> TrialResult:
    """Run one trial of any task (what ``rlsub run`` does, without storing it)."""
    return resolve_task(config.env, config.env_def).run(config, data_dir)


def trial_context(config: TrialConfig) -> TrialContext:
    """The ``TrialContext`` an RL method runs ``config`` in (tests, benchmarks, Ray actors)."""
    return TrialContext(config, resolve_task(config.env, config.env_def))


__all__ = ["check_method", "resolve_projection", "resolve_task", "run_trial", "trial_context", "typed_params"]
