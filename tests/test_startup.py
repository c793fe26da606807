"""Start-up cuts: pycma without its optional extras, numpy forms for tiny sweeps, forked sweep workers.
None of them may change a stored number."""

import json
import multiprocessing as mp
import subprocess
import sys

import pytest

import rlsub.execution.worker_pool as pool_mod
from rlsub.cli.main import _pooled, build_parser
from rlsub.execution.worker_pool import pool_context
from rlsub.kernels import lazy_jit as jit
from rlsub.results.store import Store
from rlsub.sweeps.run import run_sweep
from rlsub.sweeps.spec import SweepSpec
from rlsub.utils.optional_imports import import_without


def test_import_without_blocks_the_extras_during_the_import_only(tmp_path, monkeypatch):
    (tmp_path / "startup_extra").mkdir()
    (tmp_path / "startup_extra" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "startup_probe.py").write_text(
        "try:\n    import startup_extra\n    HAVE = True\nexcept ImportError:\n    HAVE = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        probe = import_without("startup_probe", ("startup_extra",))
        assert probe.HAVE is False
        assert import_without("startup_probe", ("startup_extra",)) is probe  # already imported: as it is
        import startup_extra  # afterwards the extra imports normally

        assert startup_extra.VALUE == 1
    finally:
        for name in ("startup_probe", "startup_extra"):
            sys.modules.pop(name, None)


def test_cmaes_leaves_scipy_stats_and_matplotlib_unimported():
    code = ("import sys, numba; from rlsub.agents.cmaes import CMAES; c = CMAES(3, 0); x = c.ask(); c.tell(x, [1.0] * len(x)); "
            "print([m for m in ('scipy.stats', 'matplotlib') if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_numpy_forms_switch_every_kernel_off_inside_the_block_only():
    kernel = jit.LazyJit(lambda x: x)
    with jit.numpy_forms():
        assert kernel.get() is None
        with jit.numpy_forms():
            assert kernel.get() is None
        assert kernel.get() is None
    try:
        import numba  # noqa: F401
    except ImportError:
        return
    assert kernel.get() is not None


def _stored(out):
    with Store(out, create=False) as s:
        return {r.key: (r.fingerprint, r.final_mean, r.final_std, r.final_returns, r.env_steps, r.info)
                for r in s.rows()}


def test_tiny_in_process_sweep_runs_numpy_forms_with_the_same_results(tmp_path, monkeypatch):
    """A sweep under SMALL_SWEEP_STEPS runs the numpy forms; the stored trials equal the compiled run's."""
    pytest.importorskip("numba")
    spec = SweepSpec(envs=["CartPole-v1"], methods=["cmaes", "es"], dims=[2, 3], seeds=[0], budget=600,
                     eval_episodes=3)
    calls = []
    real = jit.numpy_forms
    monkeypatch.setattr(pool_mod, "numpy_forms", lambda: calls.append(1) or real())
    run_sweep(spec, tmp_path / "numpy", workers=1, progress=False)
    assert calls, "a 2,400-step sweep should have run the numpy forms"
    monkeypatch.setattr(pool_mod, "SMALL_SWEEP_STEPS", 0)
    calls.clear()
    run_sweep(spec, tmp_path / "numba", workers=1, progress=False)
    assert not calls
    a, b = _stored(tmp_path / "numpy"), _stored(tmp_path / "numba")
    assert len(a) == 4 and a == b


def _args(*argv):
    return build_parser().parse_args(["sweep", "--out", "x", *argv])


@pytest.mark.parametrize("argv,pooled", [
    (["--env", "CartPole-v1", "--dims", "4", "--seeds", "1", "--workers", "2"], False),
    (["--env", "CartPole-v1", "--dims", "1,2,4", "--seeds", "5", "--workers", "2"], True),
    (["--env", "CartPole-v1", "--dims", "4", "--seeds", "0,1", "--workers", "2"], True),
    (["--env", "CartPole-v1", "--dims", "1,2,4", "--seeds", "5", "--workers", "1"], False),
    (["--env", "CartPole-v1", "--dims", "1,2", "--workers", "2", "--backend", "ray"], False),
    (["--config", "sweep.toml", "--workers", "2"], True),
])
def test_cli_starts_the_worker_server_early_only_for_pooled_sweeps(argv, pooled):
    assert _pooled(_args(*argv)) is pooled


def _loaded(names):
    return [n in sys.modules for n in names]


@pytest.mark.skipif("forkserver" not in mp.get_all_start_methods(), reason="no fork server on this platform")
def test_workers_come_from_the_preloaded_fork_server():
    """A worker starts with torch, the lockstep code and pycma already imported (by its server)."""
    from concurrent.futures import ProcessPoolExecutor

    ctx = pool_context()
    assert ctx.get_start_method() == "forkserver"
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        # rlsub.sweeps.worker_preload is imported by the server alone (unpickling _loaded imports this test module,
        # which imports torch and rlsub itself, so those two say little on their own)
        assert pool.submit(_loaded, ["rlsub.sweeps.worker_preload", "torch", "rlsub.tasks.lockstep", "cma"]).result() == [True] * 4


def test_a_worker_ends_itself_once_its_driver_is_gone():
    """A sweep killed with -9 leaves its forked workers parentless (their parent is the fork server) and
    blocked on queues that never close: each one watches the driver's pid and exits when it is gone."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    code = f"from rlsub.sweeps.run import _exit_with; _exit_with({int(gone.stdout)}, every=0.01); print('still here')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1 and "still here" not in proc.stdout


def test_preload_imports_cleanly_in_a_fresh_interpreter():
    """The fork server ignores an ImportError in its preload silently: check the module imports."""
    code = "import sys, rlsub.sweeps.worker_preload; print(json.dumps(['cma' in sys.modules, 'rlsub.tasks.lockstep' in sys.modules]))"
    proc = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [True, True]


def test_load_cached_loads_cached_kernels_without_calling_or_compiling_them():
    pytest.importorskip("numba")
    run = ("import numpy as np; from rlsub.kernels import mlp_forward as mk; f = np.float32; "
           "mk.layer(np.ones((2, 3), f), np.ones((2, 3, 4), f), np.zeros((2, 4), f), np.zeros((2, 4), f), 2, mk.TANH)")
    subprocess.run([sys.executable, "-c", run], check=True)  # compiles (first time) and caches it
    probe = ("import json; from rlsub.kernels import lazy_jit as jit, mlp_forward as mk; n = jit.load_cached(); d = mk._kernel.get(); "
             "print(json.dumps([n, len(d.signatures), sum(d.stats.cache_misses.values())]))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    n, signatures, misses = json.loads(proc.stdout)
    assert n >= 1 and signatures >= 1 and misses == 0
