"""Dense Gaussian projection with unit-norm columns (the paper's default)."""

from __future__ import annotations

import numpy as np
import torch

from rlsub.errors import ConfigError
from rlsub.kernels.lazy_jit import LazyJit
from rlsub.projections.base import Projection
from rlsub.utils.seeding import torch_generator

#: Refuse to materialise a dense P larger than this; sparse/Fastfood are O(D).
MAX_DENSE_BYTES = 4 * 1024**3


class DenseProjection(Projection):
    """P with i.i.d. N(0, 1) entries, each column scaled to unit L2 norm. Memory: D·d floats."""

    kind = "dense"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__(D, d, seed)
        if D * d * 4 > MAX_DENSE_BYTES:
            raise ConfigError(
                f"dense projection D={D} x d={d} needs {D * d * 4 / 2**30:.1f} GiB; "
                "use --projection fastfood or sparse"
            )
        g = torch_generator(seed, "dense", D, d)
        P = torch.randn(D, d, generator=g)
        P /= P.norm(dim=0, keepdim=True)
        # Stored transposed so that theta @ P_t is a contiguous GEMM for batches.
        self.register_buffer("P_t", P.T.contiguous())

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        return theta_d @ self.P_t

    @torch.no_grad()
    def dense(self) -> torch.Tensor:
        return self.P_t.T.contiguous()


# -- the CPU evaluator's form: numpy in, numpy out, fixed summation order -----------------------
def offset_rows_numpy(theta_0: np.ndarray, P_t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``theta_0 + x @ P_t`` for ``x`` ``[n, d]`` (float32): each entry ``θ_0[j] + x[r, 0] P_t[0, j] +
    x[r, 1] P_t[1, j] + ...`` summed left to right in float32, so a row's bits depend neither on the
    other rows nor on the CPU or BLAS (``offset_rows`` compiles the same loop)."""
    out = np.repeat(theta_0[None, :], x.shape[0], axis=0)
    for k in range(x.shape[1]):
        out += x[:, k, None] * P_t[k]
    return out


def _offset_rows_kernel(theta_0, P_t, x, out):  # pragma: no cover - compiled
    n, d = x.shape
    D = theta_0.shape[0]
    for r in range(n):  # (blocking the columns stopped LLVM vectorising the inner loop: 7x slower)
        for j in range(D):
            out[r, j] = theta_0[j]
        for k in range(d):
            xk = x[r, k]
            for j in range(D):
                out[r, j] += xk * P_t[k, j]


_kernel = LazyJit(_offset_rows_kernel, error_model="numpy")


def offset_rows(theta_0: np.ndarray, P_t: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``offset_rows_numpy``'s result (compiled where numba is installed): θ_0 + Pθ_d of each row of
    ``x``, ``[n, D]`` float32. ``theta_0`` ``[D]``, ``P_t`` ``[d, D]`` and ``x`` are float32."""
    kernel = _kernel.get()
    if kernel is None:
        return offset_rows_numpy(theta_0, P_t, x)
    out = np.empty((x.shape[0], theta_0.shape[0]), dtype=np.float32)
    kernel(theta_0, P_t, np.ascontiguousarray(x), out)
    return out
