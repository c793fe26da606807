"""Which engine trains a DQN trial: ``dqn.train`` (one trial, ``engine=single``) or ``dqn_batched``
(trials trained as one batched computation, ``engine=batched``). The dispatch lives here alone, so the
two engines import neither this module nor each other's entry points.
"""

from __future__ import annotations

from collections.abc import Iterator

from rlsub.agents.dqn.batched import run_batched
from rlsub.agents.dqn.single import DQNConfig, resolve_config, train
from rlsub.errors import NonFiniteReturn


def run(ctx):
    """``--method dqn``: resolve the config (``dqn.resolve_config``) and train with its engine; a
    batched trial run alone is a batch of one."""
    cfg, table = resolve_config(ctx)
    if cfg.engine == "batched":
        return train_batched([(ctx, cfg, table)])[0]
    return train(cfg, ctx, table)


def run_group(configs: list, context) -> Iterator[tuple[object, object]]:
    """The DQN trials of a sweep worker ([`rlsub.tasks.lockstep.run_lockstep`][rlsub.tasks.lockstep.run_lockstep]): those whose resolved
    config has ``engine=batched`` train together, the others alone afterwards; yields
    ``(config, outcome)`` as each finishes (outcome: TrialResult or NonFiniteReturn). ``context``
    builds a trial's ``TrialContext``."""
    alone: list = []

    def items():
        for config in configs:
            ctx = context(config)
            try:
                cfg, table = resolve_config(ctx)
            except BaseException:
                ctx.close()
                raise
            if cfg.engine == "batched":
                yield config, ctx, cfg, table
            else:  # rebuilt when its turn comes: a context holds θ_0, P and envs
                ctx.close()
                alone.append(config)

    yield from run_batched(items(), close_contexts=True)
    for config in alone:
        ctx = context(config)
        try:
            cfg, table = resolve_config(ctx)
            yield config, train(cfg, ctx, table)
        except NonFiniteReturn as e:
            yield config, e
        finally:
            ctx.close()


def train_batched(trials: list[tuple[object, DQNConfig, str | None]]) -> list:
    """TrialResults of ``(ctx, cfg, defaults)`` trials trained together, in their order (raises the
    first ``NonFiniteReturn``)."""
    out: dict[int, object] = dict(run_batched((i, *t) for i, t in enumerate(trials)))
    for i in range(len(trials)):
        if isinstance(out[i], NonFiniteReturn):
            raise out[i]
    return [out[i] for i in range(len(trials))]


__all__ = ["run", "run_group", "train_batched"]
