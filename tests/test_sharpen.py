"""``--until-ci``: seeds (then a d between grid points) added where the crossing is decided, until the CI is sharp."""

import math

import numpy as np
import pytest
from tests_helpers import stored

from rlsub.errors import ConfigError
from rlsub.results.store import Store
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.sharpen import ci_ratio, format_sharpen, sharpen
from rlsub.sweeps.spec import SweepSpec

GRID = [1, 2, 4, 8, 16, 32, 64]


def _score(d: int, seed: int, centre: float, study: int = 7) -> float:
    """Solve/fail outcomes: a seed solves (~0.95-1 of 500) with a probability rising in ln d."""
    rng = np.random.default_rng([seed, d, study])
    p = 1 / (1 + math.exp(-3 * (math.log(d) - math.log(centre))))
    return 500 * (rng.uniform(0.95, 1.0) if rng.uniform() < p else rng.uniform(0.0, 0.4))


class FakeRun:
    """Stands in for ``run_sweep``: stores a synthetic result for every trial of the spec not yet stored."""

    def __init__(self, out, centre=8.0, stop_after=None, study=7):
        self.out, self.centre, self.stop_after, self.calls, self.ran = out, centre, stop_after, [], 0
        self.study = study

    def __call__(self, spec):
        self.calls.append((list(spec.dims), list(spec.seeds)))
        with Store(self.out) as store:
            have = store.keys()
            for t in plan_sweep(spec).trials:
                if t.key() in have:
                    continue
                if self.stop_after is not None and self.ran >= self.stop_after:
                    raise KeyboardInterrupt  # the sweep was killed here
                full = t.dim is None
                score = 500.0 if full else _score(t.dim, t.seed, self.centre, self.study)
                store.add(t.key(), **stored(d=4610 if full else t.dim, is_full=full, D=4610, seed=t.seed,
                                            projection=t.projection, fingerprint=t.fingerprint(),
                                            final_returns=[score]))
                self.ran += 1
        return {"done": 0, "failed": 0, "skipped": 0}


def _spec(seeds=5, dims=GRID):
    return SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=list(dims), seeds=list(range(seeds)),
                     projections=["dense"], budget=1000)


def test_adds_trials_until_the_ci_is_sharp(tmp_path):
    run = FakeRun(tmp_path)
    (res,) = sharpen(_spec(), tmp_path, ratio=2, max_trials=400, run=run)
    assert res.reason.startswith("stopped: CI") and ci_ratio(res.result) <= 2
    assert res.initial_trials == 35 and res.added > 0 and res.trials == 35 + res.added
    with Store(tmp_path) as store:
        rows = list(store.rows())
    assert len(rows) == res.trials  # every planned trial is an ordinary stored trial, none repeated
    seeds = {r.seed for r in rows}
    assert max(seeds) >= 5  # fresh seed numbers were added
    # the added d's are between grid points and said so
    dims = {r.d for r in rows}
    assert set(res.added_dims) == dims - set(GRID)
    assert all(1 < d < 64 for d in res.added_dims)
    text = format_sharpen([res], 2)
    assert "until-ci 2" in text and res.reason in text and f"{res.added} added" in text
    # the sharpened CI brackets the estimate and is narrower than the grid's first one
    lo, hi = res.result.estimate_ci
    assert lo <= res.result.estimate <= hi


def test_a_sweep_killed_mid_round_plans_the_same_trials_when_rerun(tmp_path):
    whole = tmp_path / "whole"
    (ref,) = sharpen(_spec(), whole, ratio=2, max_trials=400, run=FakeRun(whole))
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        sharpen(_spec(), killed, ratio=2, max_trials=400, run=FakeRun(killed, stop_after=41))
    again = FakeRun(killed)
    (res,) = sharpen(_spec(), killed, ratio=2, max_trials=400, run=again)
    assert again.ran == ref.trials - 41  # nothing finished was run twice
    with Store(whole) as a, Store(killed) as b:
        assert a.keys() == b.keys()
    assert res.result.estimate == ref.result.estimate and res.result.estimate_ci == ref.result.estimate_ci


def test_the_trial_cap_stops_it_and_says_so(tmp_path):
    (res,) = sharpen(_spec(), tmp_path, ratio=1.01, max_trials=38, run=FakeRun(tmp_path))
    assert res.trials == 38 and "trial cap 38" in res.reason
    with Store(tmp_path) as store:
        assert len(store.keys()) == 38


def test_not_reached_is_not_sharpened(tmp_path):
    run = FakeRun(tmp_path, centre=1e6)
    (res,) = sharpen(_spec(), tmp_path, ratio=2, run=run)
    assert "not reached" in res.reason and res.added == 0 and len(run.calls) == 1


def test_adjacent_bounds_get_a_d_between_them(tmp_path):
    # a coarse grid whose CI ends up between two adjacent tested d's: seeds alone cannot narrow hi/lo
    (res,) = sharpen(_spec(seeds=5, dims=[1, 8, 64]), tmp_path, ratio=2, max_trials=400, run=FakeRun(tmp_path))
    assert res.added_dims and any("adding d =" in r for r in res.rounds)
    assert res.reason.startswith("stopped: CI")


def test_bad_ratio_and_cap_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="until-ci"):
        sharpen(_spec(), tmp_path, ratio=1.0, run=FakeRun(tmp_path))
    with pytest.raises(ConfigError, match="max-trials"):
        sharpen(_spec(), tmp_path, ratio=2, max_trials=0, run=FakeRun(tmp_path))


def test_the_sharpened_ci_still_covers(tmp_path):
    """Stopping once the CI is narrow is a sequential rule; on solve/fail studies with known truth its
    final nominal-90% CI still covers the true crossing (measured 36/40)."""
    p = (0.9 - 0.2) / (0.975 - 0.2)  # mean(d) = p(d) 0.975 + (1 - p(d)) 0.2 crosses 0.9 where p(d) = p
    hits = 0
    for study in range(40):
        centre = float(np.exp(np.random.default_rng(study).uniform(math.log(2), math.log(40))))
        truth = centre * math.exp(math.log(p / (1 - p)) / 3)
        out = tmp_path / str(study)
        run = FakeRun(out, centre=centre, study=study)
        (res,) = sharpen(_spec(), out, ratio=2, max_trials=300, run=run)
        lo, hi = res.result.estimate_ci
        hits += lo <= truth <= (hi if hi is not None else math.inf)
    assert hits >= 32


def test_cli_until_ci_stores_ordinary_trials_and_resumes(tmp_path, capsys):
    from rlsub.cli.main import main

    argv = ["sweep", "--env", "CartPole-v1", "--method", "cmaes", "--dims", "1,4", "--seeds", "2", "--budget", "2000",
            "--eval-episodes", "2", "--workers", "1", "--no-progress", "--out", str(tmp_path), "--until-ci", "1.5",
            "--max-trials", "7", "--threshold", "0.1"]  # a threshold this small budget reaches
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "until-ci 1.5: CartPole-v1 | cmaes | dense: 4 grid trials + 3 added (7 in all" in first
    assert "round 1: CI [1, 4]" in first and "stopped: the crossing is at or below the smallest tested d" in first
    with Store(tmp_path) as store:
        keys = store.keys()
        assert len(keys) == 7 and {r.status for r in store.rows()} == {"done"}
    assert main(argv) == 0  # a rerun plans the same trials, all stored: nothing runs, the same answer
    again = capsys.readouterr().out
    with Store(tmp_path) as store:
        assert store.keys() == keys
    assert again.split("until-ci")[1] == first.split("until-ci")[1]


def test_a_crossing_below_the_grid_stops_at_once(tmp_path):
    """Every tested d already passes: only d's below the grid could place the crossing (it spent the whole
    cap adding d's above the bottom before)."""
    run = FakeRun(tmp_path, centre=0.3)
    (res,) = sharpen(_spec(dims=[4, 8, 16, 32, 64]), tmp_path, ratio=2, max_trials=60, run=run)
    assert "at or below the smallest tested d" in res.reason and res.added == 0 and len(run.calls) == 1


def test_a_crash_stops_the_loop_and_says_so(tmp_path):
    class Crashing(FakeRun):
        def __call__(self, spec):
            counts = super().__call__(spec)
            return {**counts, "crashed": 1 if len(self.calls) == 2 else 0}

    (res,) = sharpen(_spec(), tmp_path, ratio=1.01, max_trials=400, run=Crashing(tmp_path))
    assert res.crashed == 1 and "crashed" in res.reason and len(res.rounds) == 1


@pytest.mark.parametrize("extra, message", [(["--until-ci", "0"], "must be > 1"),
                                             (["--max-trials", "9"], "give --until-ci")])
def test_cli_refuses_a_bad_until_ci_before_running(tmp_path, capsys, extra, message):
    from rlsub.cli.main import main

    argv = ["sweep", "--env", "CartPole-v1", "--dims", "1,4", "--seeds", "2", "--out", str(tmp_path / "s"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "s" / "results.sqlite").exists()


def test_on_d50_adds_seeds_around_its_crossing_round_by_round_and_resumes(tmp_path):
    lines = []
    run = FakeRun(tmp_path, centre=6.0)
    (res,) = sharpen(_spec(), tmp_path, ratio=2.5, max_trials=200, run=run, on="d50", echo=lines.append)
    assert res.rounds and len(lines) == len(res.rounds)  # printed as each round is planned
    assert all(line.endswith(r) for line, r in zip(lines, res.rounds)) and "d50 = " in res.rounds[0]
    lo, hi = res.result.d50_ci
    assert lo <= res.result.d50 <= hi
    if res.reason.startswith("stopped: d50 CI"):
        assert hi / lo <= 2.5
    with Store(tmp_path) as store:
        rows = list(store.rows())
    added = [r for r in rows if r.seed >= 5 and not r.is_full]
    assert added and not {32, 64} & {r.d for r in added}  # at the d's around the crossing (~6), not across the grid
    again = FakeRun(tmp_path, centre=6.0)
    (res2,) = sharpen(_spec(), tmp_path, ratio=2.5, max_trials=200, run=again, on="d50")
    assert again.ran == 0 and res2.trials == res.trials and res2.rounds == res.rounds  # resumed: nothing new
    with pytest.raises(ConfigError, match="--on"):
        sharpen(_spec(), tmp_path, on="median", run=again)
