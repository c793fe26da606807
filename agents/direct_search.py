"""The direct-search trial loop: ask/tell over θ_d with early stop, validation and final test.

A trial is a generator (``direct_search``) that *yields* the evaluations it needs — population
(``train``), re-check of a candidate that reached the threshold (``check``), mean vs best
(``validate``), final score (``test``) — and receives each one's ``EvalResult``. It returns the
``TrialResult``. ``run_direct_search`` drives one trial alone through ``ctx.evaluate``;
[`rlsub.tasks.lockstep.run_lockstep`][rlsub.tasks.lockstep.run_lockstep] drives many at once, every round of requests as one batched
rollout. Episode seeds depend only on (trial seed, request kind, generation), never on who
evaluates, so both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from rlsub.evaluation.population import EvalResult
from rlsub.trial import TrialContext, TrialResult


@dataclass(frozen=True)
class Evaluation:
    """One evaluation a trial asks for: ``thetas`` ``[n, d]`` × ``episodes`` episodes on episode
    seeds derived from ``(trial seed, *stream)`` (``ctx.evaluate``'s convention)."""

    thetas: np.ndarray
    episodes: int
    stream: tuple[object, ...]

    @property
    def kind(self) -> str:
        """``train``, ``check``, ``validate`` or ``test``."""
        return str(self.stream[0])


#: A direct-search trial: yields Evaluations, is sent their EvalResults, returns the TrialResult.
Search = Generator[Evaluation, EvalResult, TrialResult]


def direct_search(ctx: TrialContext, optimizer, validation_episodes: int = 10) -> Search:
    """Optimise θ_d with an ask/tell optimizer until the budget or its stop condition.

    Early stop: when a candidate's training fitness reaches the task's solved threshold it is
    re-checked on ``validation_episodes`` fresh episodes, and training stops if it holds.
    At the end the distribution mean and the best candidate are re-evaluated on validation
    episodes; the better one is the trial's θ_d, scored on ``eval_episodes`` fresh test episodes.
    """
    steps, gen, curve = 0, 0, []
    solved: np.ndarray | None = None
    while steps < ctx.budget and not optimizer.stop():
        X = optimizer.ask()
        res = yield Evaluation(X, ctx.episodes, ("train", gen))
        optimizer.tell(X, res.fitness)
        steps += res.steps
        gen += 1
        curve.append((steps, float(res.fitness.mean()), float(res.fitness.max())))
        best = int(np.argmax(res.fitness))
        if ctx.threshold is not None and res.fitness[best] >= ctx.threshold:
            check = yield Evaluation(X[best][None], validation_episodes, ("check", gen))
            steps += check.steps
            if check.fitness[0] >= ctx.threshold:
                solved = X[best]
                break
    if solved is not None:
        theta = solved
    else:
        candidates = np.stack([optimizer.mean, optimizer.best[0]]) if hasattr(optimizer, "best") else optimizer.mean[None]
        val = yield Evaluation(candidates, validation_episodes, ("validate",))
        steps += val.steps
        theta = candidates[int(np.argmax(val.fitness))]
    info = {"generations": gen, "early_stop": solved is not None, **optimizer.info()}
    # The final test as ctx.final_test runs it: float32 θ_d, eval_episodes, stream "test".
    test = yield Evaluation(np.asarray(theta, dtype=np.float32)[None], ctx.config.eval_episodes, ("test",))
    return finish(ctx, theta, steps, curve, info, test)


def run_search(ctx: TrialContext, search: Search) -> TrialResult:
    """Drive one trial alone: each Evaluation it yields goes through ``ctx.evaluate``."""
    try:
        ev = next(search)
        while True:
            ev = search.send(ctx.evaluate(ev.thetas, ev.episodes, *ev.stream))
    except StopIteration as stop:
        return stop.value


def run_direct_search(ctx: TrialContext, optimizer, validation_episodes: int = 10) -> TrialResult:
    """``direct_search`` run alone (see there)."""
    return run_search(ctx, direct_search(ctx, optimizer, validation_episodes))


def finish(ctx: TrialContext, theta: np.ndarray, steps: int, curve, info: dict, test: EvalResult) -> TrialResult:
    """``ctx.result`` with ``test`` (the yielded final evaluation) as its final test."""
    return ctx.result(theta, steps, curve, info, final_returns=[float(r) for r in test.returns[0]])


__all__ = ["Evaluation", "Search", "direct_search", "finish", "run_direct_search", "run_search"]
