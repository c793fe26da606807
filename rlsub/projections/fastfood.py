"""Fastfood projection (Le, Sarlós & Smola 2013) as used by Li et al. 2018: O(D) memory.

θ_d is zero-padded to n = 2^ceil(log2 d) and fed through ceil(D/n) independent blocks
``S_b H G_b Π_b H B_b`` (H: Walsh–Hadamard, B: random signs, Π: random permutation, G: Gaussian
diagonal); the stacked outputs are truncated to D. Each block is scaled so that every column of P
has norm exactly 1 within the block, and the stack is rescaled by sqrt(n/D), so columns of the
whole P have norm ≈ 1 (exactly 1 when n divides D).

Structure memory: G as float32 (D), Π as int16 when n <= 2^15 (D/2) else int32 (D), B as int8
(D/4): ≤ 2.25·D floats, 1.75·D for d <= 32768. Structures small enough for one chunk (small nets,
whose update steps are dispatch-bound) also keep B as float32 and Π as int64 (≤ 1.5 MiB).

Speed (see benchmarks/projections.py): the product runs block-chunk by block-chunk, each chunk
small enough (``CHUNK_ELEMENTS``) on a CPU to stay in cache through all five steps (signs, FWHT, permute
and scale, FWHT, store), with the FWHT done as Kronecker-factored GEMMs ([`rlsub.projections.fwht`][rlsub.projections.fwht]). The
backward pass is the transposed structured product Pᵀg = Σ_b B_b H Π_bᵀ G_b H g_b (H symmetric)
in a custom autograd function, so no intermediate [..., k, n] tensor is kept for autograd.
``fastfood_reference`` is the straightforward whole-tensor version, kept for tests and benchmarks.
"""

from __future__ import annotations

import math

import torch

from rlsub.projections.base import ProductFunction, Projection
from rlsub.projections.fwht import fwht, fwht_reference
from rlsub.utils.seeding import torch_generator

#: Target number of elements of one working chunk ([rows, blocks, n]): about 512 KiB of float32,
#: which keeps the chunk and its temporaries in a core's L2 cache (measured flat from 2^16 to 2^18).
CHUNK_ELEMENTS = 1 << 17
#: On a GPU blocking for a CPU cache would only multiply kernel launches (a population of 64 at
#: D = 1.7M, d = 6000 would be ~800 chunks of ~10 kernels each): there one chunk holds up to
#: 2^26 values (256 MiB of float32 per intermediate): two chunks for that population.
ACCELERATOR_CHUNK_ELEMENTS = 1 << 26


def chunk_elements(device: torch.device) -> int:
    """Values per working chunk of the blocked product on ``device``."""
    return CHUNK_ELEMENTS if device.type == "cpu" else ACCELERATOR_CHUNK_ELEMENTS


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # The reference multiplies by the float32 G, so its result is promote(θ dtype, float32).
    return torch.promote_types(dtype, torch.float32)


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # Skips the dispatch of a no-op conversion: the small-net path runs a few dozen tiny ops per step.
    return t if t.dtype == dtype else t.to(dtype)


def _chunk_steps(rows: int, k: int, n: int, device: torch.device) -> tuple[int, int]:
    """Rows and blocks per chunk, so that one chunk holds about ``chunk_elements(device)`` values."""
    chunk = chunk_elements(device)
    r_step = max(1, min(rows, chunk // n))
    return r_step, max(1, chunk // (r_step * n))


def fastfood_apply(
    theta: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, D: int
) -> torch.Tensor:
    """P θ for θ of shape ``[..., d]`` (d <= n): ``[..., D]``, cache-blocked (no autograd graph)."""
    k, n = G.shape
    batch, d = theta.shape[:-1], theta.shape[-1]
    dtype = _compute_dtype(theta.dtype)
    rows = math.prod(batch)
    x = theta.reshape(rows, d).to(dtype)
    if rows == 0:
        return x.new_empty(*batch, D)
    x = torch.nn.functional.pad(x, (0, n - d)).unsqueeze(1)  # [rows, 1, n]
    r_step, c_step = _chunk_steps(rows, k, n, x.device)
    if r_step >= rows and c_step >= k:
        # One chunk (small nets, where a step is a few dozen tiny ops and each op's dispatch cost
        # is the time): no loop and no copy into a separate output.
        y = fwht(x * _as(B, dtype))
        y = fwht(torch.gather(y, -1, _as(Pi, torch.long).expand(rows, k, n)).mul_(_as(G, dtype)))
        return y.reshape(rows, k * n)[:, :D].contiguous().reshape(*batch, D)
    out = x.new_empty(rows, D)
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


def _block_transpose(y: torch.Tensor, idx: torch.Tensor, sb: torch.Tensor, gb: torch.Tensor) -> torch.Tensor:
    """Σ_b B_b H Π_bᵀ G_b H y_b for ``y`` of shape [r, c, n]: the blocks' share of Pᵀg, [r, n]."""
    r, c, n = y.shape
    y = fwht(y).mul_(gb)
    # Π_bᵀ: the forward gathered z[i] = w[Π[i]], so the adjoint scatters w[Π[i]] = z[i]
    # (a permutation: plain scatter, no accumulation and no stored inverse needed).
    y = torch.empty_like(y).scatter_(-1, idx.expand(r, c, n), y)
    return fwht(y).mul_(sb).sum(dim=1)


def fastfood_apply_t(
    grad: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, d: int
) -> torch.Tensor:
    """Pᵀ g for g of shape ``[..., D]``: ``[..., d]`` (the adjoint of ``fastfood_apply``)."""
    k, n = G.shape
    batch, D = grad.shape[:-1], grad.shape[-1]
    dtype = _compute_dtype(grad.dtype)
    rows = math.prod(batch)
    g = grad.reshape(rows, D).to(dtype)
    if rows == 0:
        return g.new_zeros(*batch, d)
    r_step, c_step = _chunk_steps(rows, k, n, g.device)
    if r_step >= rows and c_step >= k:  # one chunk: see fastfood_apply
        y = torch.nn.functional.pad(g, (0, k * n - D)).reshape(rows, k, n)
        acc = _block_transpose(y, _as(Pi, torch.long), _as(B, dtype), _as(G, dtype))
        return acc[:, :d].reshape(*batch, d)
    acc = g.new_zeros(rows, n)
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
            acc[r0:r1] += _block_transpose(y.reshape(r1 - r0, c, n), idx, sb, gb)
    return acc[:, :d].reshape(*batch, d)


def _fastfood_small(
    theta: torch.Tensor, B: torch.Tensor, Pi: torch.Tensor, G: torch.Tensor, D: int
) -> torch.Tensor:
    """P θ as plain differentiable ops, for products of one chunk or less (small nets).

    There every op is tiny and the time is dispatch: autograd's own nodes replay these few ops
    in backward faster than a Python autograd.Function can (measured ~35 µs less per DQN update
    step on CartPole's net, ``benchmarks/agents.py``), and the intermediates are small to keep.
    Structures may carry leading dims matching θ's (``[T, k, n]`` for T stacked projections).
    """
    k, n = G.shape[-2:]
    dtype = _compute_dtype(theta.dtype)
    x = torch.nn.functional.pad(_as(theta, dtype), (0, n - theta.shape[-1])).unsqueeze(-2) * _as(B, dtype)
    y = torch.gather(fwht(x), -1, Pi.expand(*x.shape[:-2], k, n)) * _as(G, dtype)
    return fwht(y).reshape(*theta.shape[:-1], k * n)[..., :D].contiguous()


class _Fastfood(ProductFunction):
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
        # Grad mode is on in backward only under create_graph (double backward): only then is
        # the differentiable _FastfoodT needed; a plain call saves its dispatch on every step.
        if torch.is_grad_enabled():
            g = _FastfoodT.apply(grad, B, Pi, G, ctx.d)
        else:
            g = fastfood_apply_t(grad, B, Pi, G, ctx.d)
        return g.to(ctx.theta_dtype), None, None, None, None

    @staticmethod
    def vmap(info, in_dims, theta, B, Pi, G, D):  # type: ignore[override]
        # The product is already batched over leading dims: move the vmapped dim to the front.
        if any(dim is not None for dim in in_dims[1:]):
            raise NotImplementedError("vmap over the Fastfood structure is not supported")
        return _Fastfood.apply(theta.movedim(in_dims[0], 0), B, Pi, G, D), 0


class _FastfoodT(ProductFunction):
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
        out = _Fastfood.apply(gg, B, Pi, G, ctx.D) if torch.is_grad_enabled() else fastfood_apply(gg, B, Pi, G, ctx.D)
        return out.to(ctx.grad_dtype), None, None, None, None

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
        # A small net's update step is dispatch-bound: converting B and Π on every call is a
        # sizeable share of it. Structures that fit one chunk (≤ 1.5 MiB) also keep them in the
        # dtypes the product uses; large ones convert per chunk and keep ≤ 2.25·D floats.
        self._converted = k * n <= CHUNK_ELEMENTS
        if self._converted:
            self.register_buffer("B_float", signs.float(), persistent=False)
            self.register_buffer("Pi_long", perm, persistent=False)

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:
        k, n = self.G.shape
        if self._converted and theta_d.numel() * k <= CHUNK_ELEMENTS:
            return _fastfood_small(theta_d, self.B_float, self.Pi_long, self.G, self.D)
        B, Pi = (self.B_float, self.Pi_long) if self._converted else (self.B, self.Pi)
        return _Fastfood.apply(theta_d, B, Pi, self.G, self.D)

    def forward_reference(self, theta_d: torch.Tensor) -> torch.Tensor:
        """The same product by ``fastfood_reference`` (slow; for tests and benchmarks)."""
        return fastfood_reference(theta_d, self.B, self.Pi, self.G, self.D)


__all__ = ["FastfoodProjection", "fastfood_apply", "fastfood_apply_t", "fastfood_reference",]
