"""Adaptive search on a synthetic performance-vs-d curve."""

import numpy as np
from tests_helpers import stored

from rlsub.results.store import Store
from rlsub.sweeps.adaptive import adaptive_search, grid_size
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec


def probe_from(out_dir, ret):
    """Pretend to run the trials of a one-d spec: each stores the return ``ret(config)``."""

    def probe(spec):
        counts = {"done": 0, "failed": 0, "skipped": 0}
        with Store(out_dir) as store:
            keys = store.keys()
            for cfg in plan_sweep(spec).trials:
                if cfg.key() in keys:
                    counts["skipped"] += 1
                    continue
                store.add(cfg.key(), **stored(env=cfg.env, method=cfg.method, projection=cfg.projection_name,
                                              d=cfg.dim, D=4610, seed=cfg.seed, config=cfg.to_dict(),
                                              fingerprint=cfg.fingerprint(), final_returns=[ret(cfg)]))
                counts["done"] += 1
        return counts

    return probe


def fake_probe(out_dir, true_dint):
    """Performance is a step at ``true_dint``."""
    return probe_from(out_dir, lambda c: 480.0 if c.dim >= true_dint else min(100.0 * np.log2(c.dim + 1), 500.0))


def test_finds_the_step_with_fewer_trials_than_the_grid(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[], seeds=[0, 1, 2])
    (res,) = adaptive_search(spec, tmp_path, resolution=0.1, probe=fake_probe(tmp_path, 23))
    assert res.dint in range(23, 26)  # within the 10% resolution
    assert res.trials_run < res.grid_trials
    assert res.saved > 0
    # Doubling phase probes powers of two up to 32, then bisects between 16 and 32.
    assert [d for d, _ in res.probes][:6] == [1, 2, 4, 8, 16, 32]

    (again,) = adaptive_search(spec, tmp_path, resolution=0.1, probe=fake_probe(tmp_path, 23))
    assert again.dint == res.dint and again.trials_run == 0 and again.trials_reused == res.trials_run


def test_not_reached_within_d_max(tmp_path):
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[], seeds=[0])
    (res,) = adaptive_search(spec, tmp_path, d_max=16, probe=fake_probe(tmp_path, 100))
    assert res.dint is None and [d for d, _ in res.probes] == [1, 2, 4, 8, 16]


def test_grid_size():
    assert grid_size(1, 1, 0.1) == 1
    assert grid_size(1, 8, 1.0) == 4  # 1, 2, 4, 8


def seeded_probe(out_dir, thresholds):
    """Seed s solves (480 of 500) from d >= thresholds[s] on and fails (100) below it."""
    return probe_from(out_dir, lambda c: 480.0 if c.dim >= thresholds[c.seed] else 100.0)


def test_on_d50_bisects_to_where_half_the_seeds_reach_and_dint90_to_where_the_mean_does(tmp_path):
    thresholds = [10, 20, 40, 80]  # half the seeds solve from d = 20 on; the mean reaches 0.9 only at 80
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes"], dims=[], seeds=[0, 1, 2, 3])
    (d50,) = adaptive_search(spec, tmp_path / "a", resolution=0.1, probe=seeded_probe(tmp_path / "a", thresholds),
                             on="d50")
    assert d50.on == "d50" and d50.dint in range(20, 23)
    assert dict(d50.probes)[16] == 0.25 and dict(d50.probes)[32] == 0.5
    (d90,) = adaptive_search(spec, tmp_path / "b", resolution=0.1, probe=seeded_probe(tmp_path / "b", thresholds))
    assert d90.on == "dint90" and d90.dint in range(80, 89)
    assert d50.trials_run < d90.trials_run  # the median is found before the extreme quantile
    from rlsub.sweeps.adaptive import format_adaptive

    assert "adaptive d50 = " in format_adaptive([d50]) and "adaptive d_int90 = " in format_adaptive([d90])


def test_on_without_until_ci_or_adaptive_is_refused(tmp_path, capsys):
    from rlsub.cli.main import main

    out = tmp_path / "o"
    assert main(["sweep", "--env", "CartPole-v1", "--dims", "2,full", "--on", "d50", "--out", str(out)]) == 2
    assert "--on d50" in capsys.readouterr().err and not out.exists()
