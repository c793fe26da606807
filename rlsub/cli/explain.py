"""What the terminal says about itself: ``rlsub methods [NAME]`` (every method, each hyper-parameter with
its default and one line) and the one-time notes a sweep prints before it starts (sep-CMA)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from typing import Any

from rlsub.agents import METHODS
from rlsub.errors import ConfigError
from rlsub.supervised.recipe import DEFAULT_BATCH, DEFAULT_EPOCHS, FULL_LR, SGD_LR, SUBSPACE_LR, SupervisedParams

#: The supervised methods (``rlsub.tasks.supervised``): name → description.
SUPERVISED = {
    "adam": "Adam on θ_d by backprop through P (supervised tasks: digits-*, mnist-*; their default)",
    "sgd": "SGD with momentum on θ_d by backprop through P (supervised tasks)",
    "supervised": "the supervised recipe's optimizer: Adam, or --param optimizer=sgd",
}

#: One line for hyper-parameters whose config field carries no docstring.
COMMON = {
    "lr": "learning rate of the optimizer of θ_d",
    "beta1": "Adam's first-moment decay",
    "beta2": "Adam's second-moment decay",
    "buffer_size": "replay buffer capacity (transitions)",
    "batch_size": "examples (or transitions) per gradient step",
    "gamma": "discount factor",
    "eps_start": "ε of ε-greedy exploration at the start",
    "eps_end": "ε after the decay",
    "max_grad_norm": "gradients are clipped to this global norm (0: no clipping)",
    "adam_eps": "Adam's ε (numerical stability)",
    "validation_episodes": "greedy episodes of each early-stop check",
    "early_stop": "stop once greedy checks reach the task's solved threshold",
    "vf_coef": "weight of the value loss",
    "norm_adv": "standardise advantages per batch",
    "ent_coef": "weight of the entropy bonus",
    "init_log_std": "initial log standard deviation of a Gaussian head",
    "learn_std": "learn the Gaussian head's standard deviation",
    "num_envs": "envs stepped together for collection",
    "epochs": "passes over each batch of experience (PPO) or over the training split (supervised)",
    "minibatch_size": "transitions per minibatch",
    "gae_lambda": "λ of generalised advantage estimation",
    "clip": "PPO's clipping range of the probability ratio",
}


def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields (the string literal after each field)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # pragma: no cover - source not shipped
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for a, b in zip(body, body[1:]):
            if (isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr)
                    and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str)):
                out[a.target.id] = b.value.value
    return out


def first_sentence(text: str, limit: int = 110) -> str:
    """The docstring's first sentence on one line (rst markup dropped), at most ``limit`` characters."""
    flat = " ".join(text.replace("``", "").split())
    cut = flat.find(". ")
    one = flat if cut < 0 else flat[:cut + 1]
    return one if len(one) <= limit else one[:limit - 1].rstrip() + "…"


def _type_name(tp: Any) -> str:
    name = str(tp).replace("typing.", "") if typing.get_origin(tp) else getattr(tp, "__name__", str(tp))
    return name.replace("NoneType", "None")


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return repr(f.default) if isinstance(f.default, str) else str(f.default)
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return str(f.default_factory())  # type: ignore[misc]
    return "(required)"


def method_config(name: str) -> type:
    """The config dataclass whose fields ``--param`` sets for method ``name``."""
    if name in METHODS:
        return METHODS[name].config_cls
    if name in SUPERVISED:
        return SupervisedParams
    known = [*METHODS, *SUPERVISED]
    raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(known)} ('rlsub methods' lists them)")


def format_methods() -> str:
    """Every method: name, family, what it trains, one line."""
    lines = [f"{'method':<11} {'family':<9} {'tasks':<11} description"]
    for m in METHODS.values():
        lines.append(f"{m.name:<11} {m.family:<9} {'RL':<11} {m.description}")
    for name, text in SUPERVISED.items():
        lines.append(f"{name:<11} {'gradient':<9} {'supervised':<11} {text}")
    lines += ["", "direct: a population searches θ_d (forward passes only); gradient: backprop through P into θ_d.",
              "'rlsub methods NAME' lists NAME's hyper-parameters with their defaults; set them with "
              "--param NAME=VALUE (or [sweep.params.NAME] in a TOML sweep file)."]
    return "\n".join(lines)


def format_method(name: str) -> str:
    """``name``'s hyper-parameters: type, default and one line each."""
    cls = method_config(name)
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    desc = METHODS[name].description if name in METHODS else SUPERVISED[name]
    rows = []
    for f in dataclasses.fields(cls):
        text = docs.get(f.name) or COMMON.get(f.name, "")
        rows.append((f.name, _type_name(hints[f.name]), _default(f), first_sentence(text) if text else "-"))
    rows.insert(0, ("name", "type", "default", "meaning"))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{name}: {desc}", f"hyper-parameters (--param NAME=VALUE; config {cls.__name__}):"]
    lines += [f"  {a:<{w[0]}}  {b:<{w[1]}}  {c:<{w[2]}}  {d}" for a, b, c, d in rows]
    if name == "dqn":
        lines.append("Subspace trials of classic tasks start from lr=0.03, reward_scale=0.01 and Atari tasks from "
                     "Nature-DQN values (rlsub.agents.dqn.single); --param values override both.")
    if cls is SupervisedParams:
        lines.append(f"None means: lr {SUBSPACE_LR:g} in a subspace (Adam; SGD {SGD_LR['subspace']:g}), full space "
                     f"{', '.join(f'{k} {v:g}' for k, v in FULL_LR.items())} (SGD {SGD_LR['full']:g}); batch_size "
                     f"{', '.join(f'{k} {v}' for k, v in DEFAULT_BATCH.items())}; epochs "
                     f"{', '.join(f'{k} {v}' for k, v in DEFAULT_EPOCHS.items())}; momentum 0.9; eval_points 5.")
    lines.append("A task preset may set its own values for its protocol method ('rlsub envs' lists the presets).")
    return "\n".join(lines)


def sep_cma_note(plan) -> str | None:
    """One line when CMA-ES trials of ``plan`` (a ``SweepPlan``) run sep-CMA (d above ``diagonal_above``):
    said once here rather than by every trial over the progress bar."""
    from rlsub.agents.cmaes import CMAESConfig

    dims = sorted({t.dim for t in plan.trials if t.method == "cmaes" and t.dim is not None
                   and t.dim > dict(t.params).get("diagonal_above", CMAESConfig.diagonal_above)})
    if not dims:
        return None
    shown = ", ".join(str(d) for d in dims[:6]) + (", …" if len(dims) > 6 else "")
    return (f"note: cmaes runs sep-CMA (diagonal covariance, linear cost) at d = {shown}: d above diagonal_above "
            f"(default {CMAESConfig.diagonal_above}; --param diagonal_above=N changes it)")


__all__ = ["COMMON", "SUPERVISED", "field_docs", "first_sentence", "format_method", "format_methods",
           "method_config", "sep_cma_note"]
