"""Adaptive search on a synthetic performance-vs-d curve."""

import numpy as np
from tests_helpers import stored

from rlsub.results.store import Store
from rlsub.sweeps.adaptive import adaptive_search, grid_size
from rlsub.sweeps.plan import plan_sweep
from rlsub.sweeps.spec import SweepSpec


def fake_probe(out_dir, true_dint):
    """Pretend to run the trials of a one-d spec: performance is a step at ``true_dint``."""

    def probe(spec):
        counts = {"done": 0, "failed": 0, "skipped": 0}
        with Store(out_dir) as store:
            keys = store.keys()
            for cfg in plan_sweep(spec).trials:
                if cfg.key() in keys:
                    counts["skipped"] += 1
                    continue
                ret = 480.0 if cfg.dim >= true_dint else 100.0 * np.log2(cfg.dim + 1)
                store.add(cfg.key(), **stored(env=cfg.env, method=cfg.method, projection=cfg.projection_name,
                                              d=cfg.dim, D=4610, seed=cfg.seed, config=cfg.to_dict(),
                                              fingerprint=cfg.fingerprint(), final_returns=[min(ret, 500.0)]))
                counts["done"] += 1
        return counts

    return probe


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
