"""Run a trial and persist it: solution artifact first, then one atomic store row."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from rlsub.errors import ConfigError, NonFiniteReturn
from rlsub.solution import save_solution
from rlsub.tasks import is_supervised
from rlsub.trial import TrialConfig, TrialResult, run_trial

log = logging.getLogger(__name__)


def execute(config: TrialConfig, out_dir: str | Path, data_dir: str | None = None) -> dict[str, Any]:
    """Run ``config`` and return the store row for it (status ``done`` or ``failed``).

    Configuration errors propagate (the whole sweep is wrong); a trial whose environment returns
    NaN/inf is recorded as failed with the reason, so reruns skip it and reports can show it.
    """
    row = _row(config)
    try:
        if row["kind"] == "supervised":
            from rlsub.supervised import run_supervised_trial

            result: TrialResult = run_supervised_trial(config, data_dir=data_dir)
        else:
            result = run_trial(config)
    except NonFiniteReturn as e:
        log.warning("trial %s failed: %s", config.key(), e)
        return {**row, "d": config.dim or 0, "is_full": config.is_full, "D": 0, "status": "failed", "error": str(e)}
    return finish(config, result, out_dir, row)


def _row(config: TrialConfig) -> dict[str, Any]:
    kind = "supervised" if is_supervised(config.env) else "rl"
    return dict(env=config.env, kind=kind, method=config.method, projection=config.projection_name,
                seed=config.seed, config=config.to_dict())


def execute_group(configs: list[TrialConfig], out_dir: str | Path, data_dir: str | None = None) -> list[dict[str, Any]]:
    """Store rows of ``configs``: supervised trials differing only in seed trained together
    (``run_supervised_trials_batched``); anything else (or a single config) one by one."""
    if len(configs) == 1 or not is_supervised(configs[0].env):
        return [execute(c, out_dir, data_dir) for c in configs]
    from rlsub.supervised import run_supervised_trials_batched

    results = run_supervised_trials_batched(list(configs), data_dir=data_dir)
    return [finish(c, r, out_dir, _row(c)) for c, r in zip(configs, results)]


def finish(config: TrialConfig, result: TrialResult, out_dir: str | Path, row: dict[str, Any]) -> dict[str, Any]:
    """Save ``result``'s solution artifact and return its complete store row."""
    spec = result.info.get("policy_spec")
    if spec and "network" not in result.info:
        result.info["network"] = network_label(spec)
    artifact = save_solution(
        Path(out_dir) / "solutions" / config.key(),
        config=config.to_dict(),
        policy=result.info.pop("policy_spec", None),
        D=result.D,
        d=result.d,
        projection=config.projection_name,
        seed=config.seed,
        theta_d=result.theta_d,
        metrics={
            "final_mean": result.final_mean,
            "final_std": result.final_std,
            "final_returns": result.final_returns,
            "env_steps": result.env_steps,
        },
        extra={k: result.info[k] for k in ("obs_norm",) if result.info.get(k) is not None},
    )
    return {
        **row, "d": result.d, "is_full": config.is_full, "D": result.D, "status": "done",
        "final_returns": result.final_returns, "env_steps": result.env_steps, "wall_time": result.wall_time,
        "artifact": str(Path(artifact).relative_to(out_dir)) if Path(artifact).is_relative_to(out_dir) else str(artifact),
        "info": result.info, "curve": result.curve,
    }


def network_label(spec: dict[str, Any]) -> str:
    """Short architecture name for tables, e.g. ``MLP 64-64`` or ``CNN nature``."""
    family = str(spec.get("family", "mlp"))
    if family == "mlp":
        return "MLP " + "-".join(str(h) for h in spec.get("hidden", ()))
    return f"{family.upper()} {spec.get('options', {}).get('arch', '')}".strip()


def execute_safely(config: TrialConfig, out_dir: str, data_dir: str | None = None) -> dict[str, Any]:
    """Worker entry point: like ``execute`` but returns unexpected crashes as an ``error`` row.

    The sweep's main process decides what to do with crashes (report them; not store them, so a
    rerun retries the trial).
    """
    try:
        return execute(config, out_dir, data_dir)
    except ConfigError as e:
        return {"crash": str(e), "config_error": True}
    except Exception as e:  # noqa: BLE001 - reported to the user with the trial's key
        return {"crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def execute_group_safely(configs: list[TrialConfig], out_dir: str, data_dir: str | None = None) -> list[dict[str, Any]]:
    """``execute_group`` for worker processes: a crash becomes one crash row per config."""
    try:
        return execute_group(configs, out_dir, data_dir)
    except ConfigError as e:
        return [{"crash": str(e), "config_error": True}] * len(configs)
    except Exception as e:  # noqa: BLE001 - reported to the user with the trials' keys
        return [{"crash": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}] * len(configs)
