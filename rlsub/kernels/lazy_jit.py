"""numba kernels compiled on first use, so that importing rlsub never pays for importing numba."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

#: Set inside ``numpy_forms()``: every ``LazyJit.get()`` answers None, so callers run their numpy forms.
_NUMPY_ONLY = False
#: Every kernel defined so far (``load_cached`` loads them all).
_KERNELS: list[LazyJit] = []


class LazyJit:
    """``numba.njit(cache=True, nogil=True, **options)(fn)``, built by the first ``get()``; ``get()`` is
    None where numba is not installed (callers then run their numpy form, which gives the same bits)."""

    def __init__(self, fn: Callable, **options) -> None:
        self.fn = fn
        self.options = options
        self._compiled: Callable | None = None
        self._tried = False
        _KERNELS.append(self)

    def get(self) -> Callable | None:
        if _NUMPY_ONLY:
            return None
        if not self._tried:
            self._tried = True
            try:
                import numba
            except ImportError:
                return None
            try:
                self._compiled = numba.njit(cache=True, nogil=True, **self.options)(self.fn)
            except RuntimeError:  # no writable cache location for this install: compile per process
                self._compiled = numba.njit(nogil=True, **self.options)(self.fn)
        return self._compiled


def load_cached() -> int:
    """Load the machine code numba has cached for every kernel defined so far, for each signature cached
    for this machine and source (nothing is compiled); returns how many were loaded. A sweep's fork server
    calls it, so that its workers start with the kernels loaded ([`rlsub.sweeps.worker_preload`][rlsub.sweeps.worker_preload]) instead of each loading
    them on first use. Uses numba's cache index, not public API: any surprise there loads nothing."""
    loaded = 0
    for kernel in _KERNELS:
        dispatcher = None if _NUMPY_ONLY else kernel.get()
        try:
            cache = dispatcher._cache
            codegen = dispatcher.targetctx.codegen()
            for key in cache._cache_file._load_index():
                if cache._index_key(key[0], codegen) == key:  # this source, machine and numba: a cache hit
                    dispatcher.compile(key[0])
                    loaded += 1
        except Exception:  # noqa: BLE001 - speed only: the kernel then loads on first use, as without this
            continue
    return loaded


@contextlib.contextmanager
def numpy_forms() -> Iterator[None]:
    """Run every kernel's numpy form inside the block (same bits, tested with each kernel), never
    importing numba there: for work so small that importing numba and loading its cached kernels
    (~0.5–1 s a process) would cost more than the compiled loops save."""
    global _NUMPY_ONLY
    before, _NUMPY_ONLY = _NUMPY_ONLY, True
    try:
        yield
    finally:
        _NUMPY_ONLY = before


__all__ = ["LazyJit", "load_cached", "numpy_forms"]
