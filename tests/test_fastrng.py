"""rlsub.kernels.pcg64: numpy's PCG64(seed) first draws, computed for many seeds at once."""

import numpy as np
import pytest

import rlsub.kernels.pcg64 as fastrng


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "fallback"])
def test_pcg64_raw_equals_numpy(compiled, monkeypatch):
    if not compiled:
        monkeypatch.setattr(fastrng, "_kernel", None)
    elif fastrng._kernel.get() is None:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(7)
    seeds = np.concatenate([[0, 1, 2, 255, 256, 2**16, 2**31 - 1, 2**31, 2**32 - 1],
                            rng.integers(0, 2**32, 500)]).astype(np.uint64)
    out = fastrng.pcg64_raw(seeds, 6)
    ref = np.stack([np.random.PCG64(int(s)).random_raw(6) for s in seeds])
    np.testing.assert_array_equal(out, ref)
    assert fastrng.pcg64_raw(np.array([], dtype=np.uint64), 4).shape == (0, 4)


def test_pcg64_raw_refuses_seeds_it_cannot_reproduce():
    with pytest.raises(ValueError, match="below"):
        fastrng.pcg64_raw(np.array([2**32], dtype=np.uint64), 4)


def test_lazy_jit_compiles_without_a_cache_location(monkeypatch):
    """An install whose directories are read-only (numba finds nowhere to cache) still compiles."""
    numba = pytest.importorskip("numba")
    from rlsub.kernels.lazy_jit import LazyJit

    real = numba.njit

    def njit(*args, **kwargs):
        if kwargs.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit)

    def twice(x):
        return 2 * x

    fn = LazyJit(twice).get()
    assert fn is not None and fn(21) == 42 and hasattr(fn, "py_func")
