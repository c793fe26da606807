"""What a sweep is: the grid (``SweepSpec``), its dims and seeds as the CLI and TOML give them, and
``load_sweep_config`` for ``rlsub sweep --config FILE``. [`rlsub.sweeps.plan`][rlsub.sweeps.plan] resolves it into trials
and [`rlsub.sweeps.run`][rlsub.sweeps.run] runs them."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rlsub.envs import register_from_config
from rlsub.errors import ConfigError
from rlsub.tasks import resolve_task

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib

FULL = "full"
#: What a sweep or ``rlsub run`` uses when no projection is asked for: ``choose_projection``'s pick.
DEFAULT_PROJECTION = "auto"


def parse_dims(text: str | Iterable[Any], option: str = "--dims") -> list[int | None]:
    """Parse ``1,2,4,full`` (or a list) into dims; ``full`` becomes None (the baseline)."""
    items = [s.strip() for s in text.split(",")] if isinstance(text, str) else list(text)
    items = [i for i in items if i != ""]
    if not items:
        raise ConfigError(f"{option} is empty: give a comma-separated list such as 1,2,4,8,full")
    dims: list[int | None] = []
    for item in items:
        if isinstance(item, str) and item.lower() == FULL:
            dims.append(None)
            continue
        try:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise ValueError
            d = int(item)
            if isinstance(item, str) and item.strip() != str(d):
                raise ValueError
        except (TypeError, ValueError):
            raise ConfigError(f"invalid dimension {item!r} in {option}: expected positive integers or 'full'") from None
        if d <= 0:
            raise ConfigError(f"invalid dimension {d} in {option}: d must be >= 1")
        dims.append(d)
    return list(dict.fromkeys(dims))


def parse_seeds(value: int | str | list) -> list[int]:
    """``5`` or ``"5"`` → seeds 0..4; ``"100-104"`` → seeds 100..104; ``"3,7"`` or ``[3, 7]`` → those
    seeds (list items may be ranges too: ``"0-2,9"``)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"--seeds must be >= 1, got {value}")
        return list(range(value))
    items = value.split(",") if isinstance(value, str) else value
    try:
        seeds = [seed for item in items for seed in _seed_item(item)]
    except (TypeError, ValueError):
        raise ConfigError(f"invalid seeds {value!r}: give a count (5 = seeds 0..4), a range (100-104) "
                          "or a comma-separated list of integers") from None
    if not seeds:
        raise ConfigError("no seeds given")
    return seeds


def _seed_item(item: Any) -> list[int]:
    """One list entry: an integer, or ``A-B`` (A..B inclusive)."""
    if isinstance(item, bool) or isinstance(item, float):
        raise ValueError(item)
    if isinstance(item, str) and "-" in item.strip()[1:]:
        lo, hi = (int(x) for x in item.strip().split("-", 1))
        if lo < 0 or hi < lo:
            raise ValueError(item)
        return list(range(lo, hi + 1))
    if isinstance(item, str) and not (item.strip().isascii() and item.strip().isdigit()):
        raise ValueError(item)  # "-3", "²": int() would take them
    if int(item) < 0:
        raise ValueError(item)
    return [int(item)]


@dataclass
class SweepSpec:
    """A grid of trials. ``dims`` may include None (= 'full', the full-space baseline)."""

    envs: list[str]
    methods: list[str]
    dims: list[int | None]
    seeds: list[int]
    projections: list[str] = field(default_factory=list)
    """Projection names (or ``auto``); empty: the default, ``auto`` (adaptive search: ``dense``)."""
    budget: int | None = None
    episodes: int | None = None
    eval_episodes: int = 20
    hidden: tuple[int, ...] | list[tuple[int, ...] | None] | None = None
    """Policy hidden sizes, or a list of them: network width as a sweep axis (each width is its own
    experiment with its own baseline; ``rlsub report`` plots d_int90 against D)."""
    family: str | None = None
    init: str | None = None
    """θ_0's initialisation of the MLP policy (``torch``, ``he_normal``, ``zeros``); None: the preset's."""
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Hyper-parameters per method name."""
    device: str = "cpu"
    env_defs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Env registrations from the TOML file, by env name (travel with each trial's config)."""
    batch_seeds: int = 1
    """Trials that differ only in seed are run this many at a time where the task can
    (``Task.run_stream``; supervised tasks: stacked θ_d, one vmapped network): several times the
    trials per hour on a GPU. Results agree with one-at-a-time trials up to float rounding."""

    def projection_names(self) -> list[str]:
        """The projections asked for (``auto`` when none was)."""
        return self.projections or [DEFAULT_PROJECTION]

    def widths(self) -> list[tuple[int, ...] | None]:
        """The hidden sizes swept (one entry when ``hidden`` is a single size or None)."""
        if isinstance(self.hidden, list):
            return [tuple(h) if h is not None else None for h in self.hidden]
        return [tuple(self.hidden) if self.hidden is not None else None]


_SPEC_KEYS = {"env", "envs", "task", "method", "methods", "dims", "seeds", "projection", "projections",
              "budget", "episodes", "eval_episodes", "hidden", "family", "init", "device", "workers", "params", "out", "data_dir",
              "batch_seeds"}


def load_sweep_config(path: str | os.PathLike) -> tuple[SweepSpec, dict[str, Any]]:
    """Read a TOML sweep file; returns the spec and run options (workers, out, data_dir).

    Example file::

        [sweep]
        env = "CartPole-v1"          # or envs = [...]
        method = "cmaes"             # or methods = [...]
        dims = [1, 2, 4, 8, "full"]
        seeds = 5                    # or a range "100-104", or a list
        projection = "dense"         # or projections = [...]; left out: auto
        budget = 100000
        workers = 2
        batch_seeds = 8              # supervised tasks: train 8 seeds of a configuration together

        [sweep.params.cmaes]
        sigma0 = 0.5

        [[envs]]                     # optional: define envs (schema: rlsub.envs.register_from_config)
        id = "PointMassSlow-v0"
        entry_point = "rlsub.envs.point_mass:PointMassEnv"
        kwargs = { max_steps = 200 }
    """
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"malformed TOML in {path}: {e}") from None
    table = raw.get("sweep")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing [sweep] table")
    unknown = set(table) - _SPEC_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [sweep]: {', '.join(sorted(unknown))}")
    env_defs = _register_envs(raw.get("envs", []), path)

    def listed(one: str, many: str, default=None):
        if many in table:
            v = table[many]
        elif one in table:
            v = [table[one]]
        else:
            v = default
        if not v or not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{path}: '{one}' must be a string (or '{many}' a list of strings)")
        return v

    envs = listed("env", "envs", [table["task"]] if "task" in table else None)
    if "dims" not in table:
        raise ConfigError(f"{path}: [sweep] needs 'dims'")
    params = table.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ConfigError(f"{path}: [sweep.params.<method>] tables expected")
    try:
        spec = SweepSpec(
            envs=envs,
            methods=listed("method", "methods", [resolve_task(envs[0], env_defs.get(envs[0])).method_names()[0]]),
            dims=parse_dims(table["dims"]),
            seeds=parse_seeds(table.get("seeds", 3)),
            projections=listed("projection", "projections") if {"projection", "projections"} & set(table) else [],
            budget=_opt_int(table, "budget", path),
            episodes=_opt_int(table, "episodes", path),
            eval_episodes=_opt_int(table, "eval_episodes", path) or 20,
            hidden=_hidden_value(table.get("hidden"), path),
            family=table.get("family"),
            init=table.get("init"),
            params=params,
            device=str(table.get("device", "cpu")),
            env_defs=env_defs,
            batch_seeds=_opt_int(table, "batch_seeds", path) or 1,
        )
    except TypeError as e:
        raise ConfigError(f"{path}: {e}") from None
    opts = {k: table[k] for k in ("workers", "out", "data_dir") if k in table}
    w = opts.get("workers")
    if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
        raise ConfigError(f"{path}: workers must be an integer >= 1, got {w!r}")
    for k in ("out", "data_dir"):
        if k in opts and not (isinstance(opts[k], str) and opts[k].strip()):
            raise ConfigError(f"{path}: {k} must be a path (a non-empty string), got {opts[k]!r}")
    return spec, opts


def _register_envs(entries: Any, path) -> dict[str, dict[str, Any]]:
    """Register every top-level ``[[envs]]`` table; returns them by the name they registered."""
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: 'envs' at top level must be an array of tables ([[envs]])")
    return {register_from_config(entry): entry for entry in entries}


def _hidden_value(v: Any, path) -> tuple[int, ...] | list[tuple[int, ...]] | None:
    """TOML ``hidden``: one size list (``[64, 64]``) or several (``[[16, 16], [64, 64]]``); ``[]`` is the
    linear policy (no hidden layer: obs -> act with bias), also inside a list (``[[], [64, 64]]``)."""
    if v is None:
        return None
    sizes = v if isinstance(v, list) and v and all(isinstance(h, list) for h in v) else [v]
    out = []
    for h in sizes:
        if (not isinstance(h, list)
                or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in h)):
            raise ConfigError(f"{path}: 'hidden' must be a list of positive layer sizes (or a list of such lists), "
                              f"got {v!r}")
        out.append(tuple(h))
    return out if len(sizes) > 1 or (v and isinstance(v[0], list)) else out[0]


def _opt_int(table: dict, key: str, path) -> int | None:
    v = table.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ConfigError(f"{path}: '{key}' must be a positive integer, got {v!r}")
    return v


def spec_fields() -> list[str]:
    return [f.name for f in fields(SweepSpec)]

