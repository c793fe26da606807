"""Each env copy's own MLP parameters in a ``SlotRollout``, and the stacked forward over the live copies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rlsub.kernels import mlp_forward as mlp_kernel

#: Activation codes of ``rlsub.kernels.mlp_forward.layer`` (the CPU forward of ``SlotMLP``).
KERNEL_ACT: dict[type[nn.Module] | None, int] = {None: mlp_kernel.NO_ACT, nn.Tanh: mlp_kernel.TANH, nn.ReLU: mlp_kernel.RELU}


@dataclass
class MLPWeights:
    """Per-member MLP parameters laid out for the stacked forward: ``W[l]`` is ``[rows, in, out]``
    (the transposed Linear weight), ``b[l]`` is ``[rows, out]`` or None. numpy on the CPU,
    torch tensors on other devices."""

    W: list
    b: list
    signature: tuple
    """(in, out, has bias, activation) per layer: rollouts only mix requests of one signature."""


class SlotMLP:
    """Each env copy's MLP parameters (copied in when the copy takes a job) and the stacked
    forward of copies ``0..k-1``: one matrix-vector product per copy and layer.

    On the CPU a layer is one compiled loop over the copies ([`rlsub.kernels.mlp_forward`][rlsub.kernels.mlp_forward]: fixed summation
    order, rlsub's own tanh), so a copy's output is the same whatever else is in the batch, and on
    any CPU. Other devices use torch's ``baddbmm``.
    """

    def __init__(self, signature: tuple, capacity: int, device: torch.device, use_numpy: bool | None = None) -> None:
        self.signature = signature
        self.device = device
        self.cpu = device.type == "cpu" if use_numpy is None else use_numpy
        self.capacity = 0
        self.W: list = []
        self.b: list = []
        self.out: list = []
        self.grow(capacity)

    def _zeros(self, *shape: int):
        return np.zeros(shape, dtype=np.float32) if self.cpu else torch.zeros(shape, device=self.device)

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        W, b, out = [], [], []
        for i, (n_in, n_out, _, _) in enumerate(self.signature):
            w_new, b_new = self._zeros(capacity, n_in, n_out), self._zeros(capacity, n_out)
            if self.capacity:
                w_new[: self.capacity] = self.W[i]
                b_new[: self.capacity] = self.b[i]
            W.append(w_new)
            b.append(b_new)
            out.append(self._zeros(capacity, n_out))
        self.W, self.b, self.out, self.capacity = W, b, out, capacity
        self._acts = [KERNEL_ACT[act] for *_, act in self.signature]

    def load(self, slots: np.ndarray, weights: MLPWeights, rows: np.ndarray) -> None:
        """Copies ``slots[i]`` take member ``rows[i]`` of ``weights``."""
        if not self.cpu:
            slots_t, rows_t = torch.as_tensor(slots, device=self.device), torch.as_tensor(rows, device=self.device)
        for i in range(len(self.signature)):
            if self.cpu:
                self.W[i][slots] = weights.W[i][rows]
                if weights.b[i] is not None:
                    self.b[i][slots] = weights.b[i][rows]
            else:
                self.W[i][slots_t] = weights.W[i][rows_t]
                if weights.b[i] is not None:
                    self.b[i][slots_t] = weights.b[i][rows_t]

    def move(self, src: np.ndarray, dst: np.ndarray) -> None:
        if not self.cpu:
            src, dst = torch.as_tensor(src, device=self.device), torch.as_tensor(dst, device=self.device)
        for W, b in zip(self.W, self.b):
            W[dst] = W[src]
            b[dst] = b[src]

    def __call__(self, x: np.ndarray, k: int) -> np.ndarray:
        """Outputs ``[k, out]`` (numpy) of copies ``0..k-1`` for their inputs ``x`` ``[k, in]`` (float32)."""
        if self.cpu:
            h = x
            for W, b, out, act in zip(self.W, self.b, self.out, self._acts):
                mlp_kernel.layer(h, W, b, out, k, act)
                h = out
            return h[:k]
        h = torch.as_tensor(x, device=self.device)
        for (_, _, _, act), W, b in zip(self.signature, self.W, self.b):
            h = torch.baddbmm(b[:k].unsqueeze(1), h.unsqueeze(1), W[:k]).squeeze(1)
            if act is not None:
                h = torch.tanh(h) if act is nn.Tanh else torch.relu(h)
        return h.cpu().numpy()


__all__ = ["KERNEL_ACT", "MLPWeights", "SlotMLP"]
