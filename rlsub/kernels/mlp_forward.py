"""The CPU forward of the episode-scheduled rollout: each env copy's own MLP, one layer at a time.

Every copy ``c`` has its own parameters, so a layer is ``k`` matrix-vector products. They are
memory-bound (each copy reads its own weights), and numpy's ``matmul`` + ``add`` + ``tanh`` pay
three passes, a dispatch each, and numpy's float32 ``tanh``, which on CPUs without AVX-512 runs
scalar (~4 ns an element: as long as the products themselves). Here one compiled loop does a
layer: bias, products, activation, in one pass.

The arithmetic is fixed, so the bits do not depend on the CPU, the BLAS or the batch:

* ``out[c, j] = b[c, j] + x[c, 0] W[c, 0, j] + x[c, 1] W[c, 1, j] + ...``, left to right, float32,
  no fused multiply-adds (numba leaves fast-math off);
* ``tanh32``: an odd rational approximation x·P(x²)/Q(x²), P and Q of degree 4 (fitted for this
  module), with the argument clamped to ±9.1, where float32 tanh is ±1; within 6 ulp of the
  correctly rounded tanh (mean 0.5 ulp), NaN in ⇒ NaN out. numpy's own tanh differs between SIMD
  paths, so it could not give that guarantee.

``layer_numpy`` is the same arithmetic in numpy (the fallback without numba, and the reference the
tests compare the compiled loop against, bit for bit).
"""

from __future__ import annotations

import numpy as np

from rlsub.kernels.lazy_jit import LazyJit

#: Activation codes of ``layer``.
NO_ACT, TANH, RELU = 0, 1, 2

_C = np.float32(9.1)
_NC = np.float32(-9.1)
_ONE = np.float32(1.0)
_NONE = np.float32(-1.0)
_ZERO = np.float32(0.0)
# tanh(x) ≈ x·P(x²)/Q(x²), P(0) = Q(0) = 1: a least-squares fit of the relative error, reweighted
# towards minimax, on [0, 9.1] (float64 relative error 2.4e-8; in float32 arithmetic ≤ 6 ulp).
_P1, _P2, _P3, _P4 = (np.float32(v) for v in (0.13377542793750763, 0.0034913411363959312,
                                               2.0534929717541672e-05, 1.3244014773761137e-08))
_Q1, _Q2, _Q3, _Q4 = (np.float32(v) for v in (0.4671086370944977, 0.02586110681295395,
                                               0.0003278504009358585, 7.732938342996931e-07))


def tanh32(v: np.ndarray) -> np.ndarray:
    """rlsub's float32 tanh (see the module docstring), elementwise; a new array."""
    a = np.maximum(np.minimum(np.asarray(v, dtype=np.float32), _C), _NC)
    s = a * a
    p = (((_P4 * s + _P3) * s + _P2) * s + _P1) * s + _ONE
    q = (((_Q4 * s + _Q3) * s + _Q2) * s + _Q1) * s + _ONE
    return np.maximum(np.minimum(a * p / q, _ONE), _NONE)


def layer_numpy(x: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray, k: int, act: int) -> None:
    """``out[:k] = act(b[:k] + x[:k] @ W[:k])`` per copy, products summed in input order (float32)."""
    o = out[:k]
    o[...] = b[:k]
    for i in range(W.shape[1]):
        o += x[:k, i, None] * W[:k, i, :]
    if act == TANH:
        o[...] = tanh32(o)
    elif act == RELU:
        np.maximum(o, _ZERO, out=o)


def _layer_kernel(x, W, b, out, k, act):  # pragma: no cover - compiled
    n_in, n_out = W.shape[1], W.shape[2]
    for c in range(k):
        if n_out >= 8:  # vectorised over the outputs
            for j in range(n_out):
                out[c, j] = b[c, j]
            for i in range(n_in):
                xi = x[c, i]
                for j in range(n_out):
                    out[c, j] += xi * W[c, i, j]
        else:  # a few outputs (action heads): one running sum each, the same order
            for j in range(n_out):
                acc = b[c, j]
                for i in range(n_in):
                    acc += x[c, i] * W[c, i, j]
                out[c, j] = acc
        if act == 1:
            for j in range(n_out):
                a = out[c, j]
                a = _C if a > _C else a  # comparisons, not min/max: NaN stays NaN, as in np.minimum
                a = _NC if a < _NC else a
                s = a * a
                p = (((_P4 * s + _P3) * s + _P2) * s + _P1) * s + _ONE
                q = (((_Q4 * s + _Q3) * s + _Q2) * s + _Q1) * s + _ONE
                r = a * p / q
                r = _ONE if r > _ONE else r
                out[c, j] = _NONE if r < _NONE else r
        elif act == 2:
            for j in range(n_out):
                if out[c, j] < _ZERO:
                    out[c, j] = _ZERO


# error_model="numpy": IEEE division without Python's zero check, which keeps the loops vectorised.
_kernel = LazyJit(_layer_kernel, error_model="numpy")


def layer(x: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray, k: int, act: int) -> None:
    """One layer of copies ``0..k-1``: ``x`` ``[>=k, in]``, ``W`` ``[>=k, in, out]``, ``b`` and ``out``
    ``[>=k, out]``, all C-contiguous float32; ``act`` one of ``NO_ACT``, ``TANH``, ``RELU``."""
    kernel = _kernel.get()
    if kernel is None:
        layer_numpy(x, W, b, out, k, act)
    else:
        kernel(x, W, b, out, k, act)


__all__ = ["NO_ACT", "RELU", "TANH", "layer", "layer_numpy", "tanh32"]
