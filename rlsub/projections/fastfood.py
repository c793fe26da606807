"""Fastfood projection (Le, Sarlós & Smola 2013) as used by Li et al. 2018: O(D) memory.

θ_d is zero-padded to n = 2^ceil(log2 d) and fed through ceil(D/n) independent blocks
``S_b H G_b Π_b H B_b`` (H: Walsh–Hadamard, B: random signs, Π: random permutation, G: Gaussian
diagonal); the stacked outputs are truncated to D. Each block is scaled so that every column of P
has norm exactly 1 within the block, and the stack is rescaled by sqrt(n/D), so columns of the
whole P have norm ≈ 1 (exactly 1 when n divides D).

Structure memory: G as float32 (D), Π as int16 when n <= 2^15 (D/2) else int32 (D), B as int8
(D/4): ≤ 2.25·D floats, 1.75·D for d <= 32768.

Speed (see benchmarks/projections.py): the product runs block-chunk by block-chunk, each chunk
small enough (``CHUNK_ELEMENTS``) to stay in cache through all five steps (signs, FWHT, permute
and scale, FWHT, store), with the FWHT done as Kronecker-factored GEMMs (``rlsub.fwht``). The
backward pass is the transposed structured product Pᵀg = Σ_b B_b H Π_bᵀ G_b H g_b (H symmetric)
in a custom autograd function, so no intermediate [..., k, n] tensor is kept for autograd.
``fastfood_reference`` is the straightforward whole-tensor version, kept for tests and benchmarks.
"""

from __future__ import annotations

import math

import torch

from rlsub.fwht import fwht, fwht_reference
from rlsub.projections.base import Projection
from rlsub.seeding import torch_generator

#: Target number of elements of one working chunk ([rows, blocks, n]): about 512 KiB of float32,
#: which keeps the chunk and its temporaries in a core's L2 cache (measured flat from 2^16 to 2^18).
CHUNK_ELEMENTS = 1 << 17


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # The reference multiplies by the float32 G, so its result is promote(θ dtype, float32).
    return torch.promote_types(dtype, torch.float32)


def fastfood_apply(
    theta: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, D: int
) -> torch.Tensor:
    """P θ for θ of shape ``[..., d]`` (d <= n): ``[..., D]``, cache-blocked (no autograd graph)."""
    k, n = G.shape
    batch, d = theta.shape[:-1], theta.shape[-1]
    dtype = _compute_dtype(theta.dtype)
    rows = math.prod(batch)
    x = theta.reshape(rows, d).to(dtype)
    out = x.new_empty(rows, D)
    if rows == 0:
        return out.reshape(*batch, D)
    x = torch.nn.functional.pad(x, (0, n - d)).unsqueeze(1)  # [rows, 1, n]
    # Rows per chunk and blocks per chunk, so that one chunk holds about CHUNK_ELEMENTS values.
    r_step = max(1, min(rows, CHUNK_ELEMENTS // n))
    c_step = max(1, CHUNK_ELEMENTS // (r_step * n))
    for b0 in range(0, k, c_step):
        b1 = min(k, b0 + c_step)
        c = b1 - b0
        lo, hi = b0 * n, min(b1 * n, D)
        # Converted per chunk (not whole-D up front) so that the conversions stay in cache.
        idx, sb, gb = Pi[b0:b1].long(), B[b0:b1].to(dtype), G[b0:b1].to(dtype)
        for r0 in range(0, rows, r_step):
            r1 = min(rows, r0 + r_step)
            y = fwht(x[r0:r1] * sb)  # [r, c, n]
            y = torch.gather(y, -1, idx.expand(r1 - r0, c, n)).mul_(gb)
            y = fwht(y)
            out[r0:r1, lo:hi] = y.reshape(r1 - r0, c * n)[:, : hi - lo]
    return out.reshape(*batch, D)


def fastfood_apply_t(
    grad: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, d: int
) -> torch.Tensor:
    """Pᵀ g for g of shape ``[..., D]``: ``[..., d]`` (the adjoint of ``fastfood_apply``)."""
    k, n = G.shape
    batch, D = grad.shape[:-1], grad.shape[-1]
    dtype = _compute_dtype(grad.dtype)
    rows = math.prod(batch)
    g = grad.reshape(rows, D).to(dtype)
    acc = g.new_zeros(rows, n)
    if rows == 0:
        return acc[:, :d].reshape(*batch, d)
    r_step = max(1, min(rows, CHUNK_ELEMENTS // n))
    c_step = max(1, CHUNK_ELEMENTS // (r_step * n))
    for b0 in range(0, k, c_step):
        b1 = min(k, b0 + c_step)
        c = b1 - b0
        lo, hi = b0 * n, min(b1 * n, D)
        idx, sb, gb = Pi[b0:b1].long(), B[b0:b1].to(dtype), G[b0:b1].to(dtype)
        for r0 in range(0, rows, r_step):
            r1 = min(rows, r0 + r_step)
            y = g[r0:r1, lo:hi]
            if hi - lo < c * n:  # the last block is truncated to D rows of P: pad its gradient
                y = torch.nn.functional.pad(y, (0, c * n - (hi - lo)))
            y = fwht(y.reshape(r1 - r0, c, n)).mul_(gb)
            # Π_bᵀ: the forward gathered z[i] = w[Π[i]], so the adjoint scatters w[Π[i]] = z[i]
            # (a permutation: plain scatter, no accumulation and no stored inverse needed).
            y = torch.empty_like(y).scatter_(-1, idx.expand(r1 - r0, c, n), y)
            y = fwht(y).mul_(sb)
            acc[r0:r1] += y.sum(dim=1)
    return acc[:, :d].reshape(*batch, d)


class _Fastfood(torch.autograd.Function):
    """θ ↦ Pθ with backward Pᵀ (which is ``_FastfoodT``, so double backward works too)."""

    @staticmethod
    def forward(theta, B, Pi, G, D):  # type: ignore[override]
        return fastfood_apply(theta, B, Pi, G, D)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        theta, B, Pi, G, _ = inputs
        ctx.save_for_backward(B, Pi, G)
        ctx.d, ctx.theta_dtype = theta.shape[-1], theta.dtype

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        B, Pi, G = ctx.saved_tensors
        g = _FastfoodT.apply(grad, B, Pi, G, ctx.d)
        return g.to(ctx.theta_dtype), None, None, None, None

    @staticmethod
    def vmap(info, in_dims, theta, B, Pi, G, D):  # type: ignore[override]
        # The product is already batched over leading dims: move the vmapped dim to the front.
        if any(dim is not None for dim in in_dims[1:]):
            raise NotImplementedError("vmap over the Fastfood structure is not supported")
        return _Fastfood.apply(theta.movedim(in_dims[0], 0), B, Pi, G, D), 0


class _FastfoodT(torch.autograd.Function):
    """g ↦ Pᵀg with backward P."""

    @staticmethod
    def forward(grad, B, Pi, G, d):  # type: ignore[override]
        return fastfood_apply_t(grad, B, Pi, G, d)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[override]
        grad, B, Pi, G, _ = inputs
        ctx.save_for_backward(B, Pi, G)
        ctx.D, ctx.grad_dtype = grad.shape[-1], grad.dtype

    @staticmethod
    def backward(ctx, gg):  # type: ignore[override]
        B, Pi, G = ctx.saved_tensors
        return _Fastfood.apply(gg, B, Pi, G, ctx.D).to(ctx.grad_dtype), None, None, None, None

    @staticmethod
    def vmap(info, in_dims, grad, B, Pi, G, d):  # type: ignore[override]
        if any(dim is not None for dim in in_dims[1:]):
            raise NotImplementedError("vmap over the Fastfood structure is not supported")
        return _FastfoodT.apply(grad.movedim(in_dims[0], 0), B, Pi, G, d), 0


def fastfood_reference(
    theta: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, D: int
) -> torch.Tensor:
    """The straightforward Fastfood product (whole [..., k, n] tensors, butterfly FWHT, autograd)."""
    k, n = G.shape
    batch = theta.shape[:-1]
    x = torch.nn.functional.pad(theta, (0, n - theta.shape[-1]))
    x = x.unsqueeze(-2) * B.to(x.dtype)  # [..., k, n]
    x = fwht_reference(x)
    idx = Pi.long().expand(*batch, k, n)
    x = torch.gather(x, -1, idx) * G
    x = fwht_reference(x)
    return x.reshape(*batch, k * n)[..., :D]


class FastfoodProjection(Projection):
    """P = sqrt(n/D)·[S_b H G_b Π_b H B_b]_b truncated to D rows; never materialised."""

    kind = "fastfood"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__(D, d, seed)
        n = 1 << max(0, math.ceil(math.log2(d)))
        k = math.ceil(D / n)
        self.n, self.blocks = n, k
        g = torch_generator(seed, "fastfood", D, d)
        signs = torch.randint(0, 2, (k, n), generator=g).to(torch.int8).mul_(2).sub_(1)
        perm = torch.argsort(torch.rand(k, n, generator=g), dim=-1)
        gauss = torch.randn(k, n, generator=g)
        # H·G·Π·H·B maps e_j to a vector of norm n·||G_b||/sqrt(n)... = sqrt(n)·||G_b||; fold
        # that and the global sqrt(n/D) into G so the forward pass is scale-free.
        scale = 1.0 / torch.sqrt(n * (gauss * gauss).sum(dim=-1, keepdim=True)) * math.sqrt(n / D)
        self.register_buffer("B", signs)
        self.register_buffer("Pi", perm.to(torch.int16 if n <= 2**15 else torch.int32))
        self.register_buffer("G", (gauss * scale).float())

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        return _Fastfood.apply(theta_d, self.B, self.Pi, self.G, self.D)

    def forward_reference(self, theta_d: torch.Tensor) -> torch.Tensor:
        """The same product by ``fastfood_reference`` (slow; for tests and benchmarks)."""
        return fastfood_reference(theta_d, self.B, self.Pi, self.G, self.D)


__all__ = ["FastfoodProjection", "fastfood_apply", "fastfood_apply_t", "fastfood_reference", "fwht"]
