"""numba kernels compiled on first use, so that importing rlsub never pays for importing numba."""

from __future__ import annotations

from collections.abc import Callable


class LazyJit:
    """``numba.njit(cache=True, nogil=True, **options)(fn)``, built by the first ``get()``; ``get()`` is
    None where numba is not installed (callers then run their numpy form, which gives the same bits)."""

    def __init__(self, fn: Callable, **options) -> None:
        self.fn = fn
        self.options = options
        self._compiled: Callable | None = None
        self._tried = False

    def get(self) -> Callable | None:
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


__all__ = ["LazyJit"]
