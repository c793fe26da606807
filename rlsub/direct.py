"""The direct-search trial loop: ask/tell over θ_d with early stop, validation and final test."""

from __future__ import annotations

import numpy as np

from rlsub.trial import TrialContext, TrialResult


def run_direct_search(ctx: TrialContext, optimizer, validation_episodes: int = 10) -> TrialResult:
    """Optimise θ_d with an ask/tell optimizer until the budget or its stop condition.

    Early stop: when a candidate's training fitness reaches the task's solved threshold it is
    re-checked on ``validation_episodes`` fresh episodes, and training stops if it holds.
    At the end the distribution mean and the best candidate are re-evaluated on validation
    episodes; the better one is the trial's θ_d, scored by ``ctx.final_test``.
    """
    steps, gen, curve = 0, 0, []
    solved: np.ndarray | None = None
    while steps < ctx.budget and not optimizer.stop():
        X = optimizer.ask()
        res = ctx.evaluate(X, ctx.episodes, "train", gen)
        optimizer.tell(X, res.fitness)
        steps += res.steps
        gen += 1
        curve.append((steps, float(res.fitness.mean()), float(res.fitness.max())))
        best = int(np.argmax(res.fitness))
        if ctx.threshold is not None and res.fitness[best] >= ctx.threshold:
            check = ctx.evaluate(X[best][None], validation_episodes, "check", gen)
            steps += check.steps
            if check.fitness[0] >= ctx.threshold:
                solved = X[best]
                break
    if solved is not None:
        theta = solved
    else:
        candidates = np.stack([optimizer.mean, optimizer.best[0]]) if hasattr(optimizer, "best") else optimizer.mean[None]
        val = ctx.evaluate(candidates, validation_episodes, "validate")
        steps += val.steps
        theta = candidates[int(np.argmax(val.fitness))]
    info = {"generations": gen, "early_stop": solved is not None, **optimizer.info()}
    return ctx.result(theta, steps, curve, info)
