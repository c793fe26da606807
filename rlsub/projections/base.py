"""The projection protocol: a frozen random linear map P: R^d -> R^D rebuilt from (D, d, seed)."""

from __future__ import annotations

import torch
from torch import nn

from rlsub.errors import ConfigError


class Projection(nn.Module):
    """Frozen random D×d matrix P, applied as ``theta_D_offset = P @ theta_d``.

    Subclasses keep their random structure in buffers (so ``.to(device)`` moves it) and
    regenerate it from ``(D, d, seed)`` alone: a solution file never stores P.
    ``forward`` accepts ``theta_d`` of shape ``[d]`` or ``[..., d]`` and returns ``[..., D]``.
    """

    kind: str = "base"

    def __init__(self, D: int, d: int, seed: int) -> None:
        super().__init__()
        check_dims(D, d)
        self.D, self.d, self.seed = int(D), int(d), int(seed)

    def forward(self, theta_d: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def dense(self) -> torch.Tensor:
        """Materialise P as a ``[D, d]`` tensor (for tests and small problems)."""
        eye = torch.eye(self.d, device=self.device)
        return self(eye).T.contiguous()

    @property
    def device(self) -> torch.device:
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def structure_bytes(self) -> int:
        """Bytes held by P's random structure (its buffers)."""
        return sum(b.numel() * b.element_size() for b in self.buffers())

    def extra_repr(self) -> str:
        return f"D={self.D}, d={self.d}, seed={self.seed}"


# torch.func's check, private in torch; without it every call takes torch's general path.
_transforms_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: True)


class ProductFunction(torch.autograd.Function):
    """Base of the projections' autograd functions: as cheap to call as an old-style Function.

    torch.func (vmap over populations) needs the ``setup_context`` style, and for that style
    torch's ``Function.apply`` binds the arguments through ``inspect.signature`` on every call:
    ~10 µs, a sizeable share of a small net's whole update step (``benchmarks/agents.py``). Our
    ``forward`` methods take no default arguments, so outside torch.func transforms the binding
    is a no-op and the C++ apply is called directly; inside them torch's own path runs.
    """

    @classmethod
    def apply(cls, *args):  # type: ignore[override]
        if _transforms_active():
            return super().apply(*args)
        return super(torch.autograd.Function, cls).apply(*args)


def check_dims(D: int, d: int) -> None:
    """Raise ConfigError unless 1 <= d <= D."""
    if not isinstance(d, int) or isinstance(d, bool):
        raise ConfigError(f"subspace dimension d must be an integer, got {d!r}")
    if d <= 0:
        raise ConfigError(f"subspace dimension d must be >= 1, got {d}")
    if d > D:
        raise ConfigError(f"subspace dimension d={d} exceeds the network's parameter count D={D}")
