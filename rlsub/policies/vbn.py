"""Virtual batch norm (Salimans et al. 2016) and the ES Atari policy built on it (``VBNConvNet``).

Batch norm whose statistics come from a fixed reference batch of observations, never from running
buffers: a pure function of (parameters, inputs, reference), so it runs under
``torch.func.functional_call`` and ``vmap`` over a population. [`rlsub.policies.networks`][rlsub.policies.networks] registers the
``"vbn_cnn"`` family that builds ``VBNConvNet`` from a ``PolicySpec``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from rlsub.errors import ConfigError
from rlsub.policies.images import chw

#: Conv stack of the ES Atari policy (Salimans et al. 2017; Li et al. 2018's Pong) as (out, kernel, stride).
ES_ATARI_CONVS: tuple[tuple[int, int, int], ...] = ((16, 8, 4), (32, 4, 2))
ES_ATARI_HIDDEN: tuple[int, ...] = (256,)
#: TF's ``batch_norm`` epsilon in that policy.
VBN_EPS = 1e-3


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding along one axis: (before, after), the extra pixel going after.

    The output has ``ceil(size / stride)`` positions; e.g. 84 → 21 for 8×8/4 (pads 2, 2) and
    21 → 11 for 4×4/2 (pads 1, 2).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class VirtualBatchNorm(nn.Module):
    """Batch norm whose statistics come from a reference batch, never from running buffers.

    ``stats(ref)`` gives the per-feature mean and (biased) variance of the reference activations;
    ``normalize(h, mean, var)`` applies them with the learned affine ``weight``/``bias``. Nothing is
    mutated during a forward, so the layer is a pure function of (parameters, inputs, reference):
    it works under ``torch.func.functional_call`` and ``vmap`` over a population, each member
    normalising with the statistics its own parameters produce on the same reference batch.
    """

    def __init__(self, num_features: int, eps: float = VBN_EPS) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(self.num_features))
        self.bias = nn.Parameter(torch.zeros(self.num_features))

    @staticmethod
    def _dims(h: torch.Tensor) -> list[int]:
        # Feature axis is 1 ([N, C, H, W] or [N, F]); statistics pool over everything else.
        return [0, *range(2, h.dim())]

    def stats(self, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and biased variance per feature of the reference activations ``ref`` ([R, C, ...])."""
        dims = self._dims(ref)
        return ref.mean(dim=dims), ref.var(dim=dims, correction=0)

    def normalize(self, h: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (h.dim() - 2)
        scale = (self.weight * torch.rsqrt(var + self.eps)).reshape(shape)
        return (h - mean.reshape(shape)) * scale + self.bias.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class VBNConvNet(nn.Module):
    """SAME-padded conv stack → MLP, each hidden layer followed by virtual batch norm and the activation.

    The reference batch (``set_reference``) is a fixed set of observations, stored as a buffer (so it is
    not part of D and not touched by the projection). Salimans et al. (2017) collect 128 frames with
    uniformly random actions once per run ([`rlsub.envs.li2018.reference_batch`][rlsub.envs.li2018.reference_batch] does the same, seeded);
    the batch must be set before the first forward, and a replay must set the same one.

    ``forward(x)`` runs the reference frames through the network together with ``x`` and normalises
    every layer with the reference part's statistics (the outputs for ``x`` do not depend on what
    else is in ``x``). That costs R extra frames per call; to pay it once per parameter vector
    instead, compute ``stats = net(None)`` (a flat ``[2·Σ features]`` tensor, differentiable and
    vmappable) and call ``net(x, stats)`` for every step.

    ``activation`` is the module class (``rlsub.policies.networks.ACTIVATIONS[name]``), one instance shared by
    every layer.
    """

    def __init__(self, obs_shape: Sequence[int], layout: str, convs: Sequence[Sequence[int]], padding: str,
                 hidden: Sequence[int], activation: type[nn.Module], out_dim: int, scale: float, eps: float = VBN_EPS) -> None:
        super().__init__()
        if padding not in ("same", "valid"):
            raise ConfigError(f"vbn_cnn: padding must be 'same' or 'valid', got {padding!r}")
        c, h, w = chw(obs_shape, layout)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.layout = layout
        self.scale = float(scale)
        self.act = activation()
        self.convs = nn.ModuleList()
        self.conv_norms = nn.ModuleList()
        self.pads: list[tuple[int, int, int, int]] = []
        for out_c, k, s in ((int(a), int(b), int(cc)) for a, b, cc in convs):
            if padding == "same":
                (pt, pb), (pl, pr) = same_padding(h, k, s), same_padding(w, k, s)
            else:
                pt = pb = pl = pr = 0
            self.pads.append((pl, pr, pt, pb))
            h, w = (h + pt + pb - k) // s + 1, (w + pl + pr - k) // s + 1
            if h < 1 or w < 1:
                raise ConfigError(f"vbn_cnn: image {obs_shape} is too small for conv layers {list(map(list, convs))}")
            self.convs.append(nn.Conv2d(c, out_c, k, s))
            self.conv_norms.append(VirtualBatchNorm(out_c, eps))
            c = out_c
        sizes = [c * h * w, *(int(v) for v in hidden)]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.fc_norms = nn.ModuleList(VirtualBatchNorm(b, eps) for b in sizes[1:])
        self.out = nn.Linear(sizes[-1], out_dim)
        self._norm_sizes = [n.num_features for n in (*self.conv_norms, *self.fc_norms)]
        self._ndim = 2 if layout == "hw" else 3
        self.register_buffer("reference", torch.zeros((0, *self.obs_shape), dtype=torch.uint8))

    # -- reference batch ------------------------------------------------------------------------
    def set_reference(self, obs: torch.Tensor | np.ndarray) -> None:
        """Fix the reference batch: ``[R, *obs_shape]`` observations (R >= 2), any dtype the input takes."""
        ref = torch.as_tensor(np.asarray(obs) if not isinstance(obs, torch.Tensor) else obs)
        if ref.dim() != len(self.obs_shape) + 1 or tuple(ref.shape[1:]) != self.obs_shape or ref.shape[0] < 2:
            raise ConfigError(f"vbn_cnn: reference batch must be [R >= 2, {', '.join(map(str, self.obs_shape))}], "
                              f"got {tuple(ref.shape)}")
        self.reference = ref.to(self.reference.device).clone()

    @property
    def stats_size(self) -> int:
        """Length of the flat statistics tensor ``net(None)`` returns (means then variances per layer)."""
        return 2 * sum(self._norm_sizes)

    # -- forward --------------------------------------------------------------------------------
    def _images(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *x.shape[x.dim() - self._ndim:])
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        return x.to(torch.float32) * self.scale

    def _layers(self):
        for conv, pad, norm in zip(self.convs, self.pads, self.conv_norms):
            yield (lambda t, conv=conv, pad=pad: conv(F.pad(t, pad))), norm, False
        for i, (fc, norm) in enumerate(zip(self.fcs, self.fc_norms)):
            yield fc, norm, i == 0

    def _run(self, h: torch.Tensor, n_ref: int, stats: list[tuple[torch.Tensor, torch.Tensor]] | None):
        """Hidden layers on ``h`` (its first ``n_ref`` rows the reference); returns (features, stats used)."""
        used = []
        for i, (layer, norm, flatten_first) in enumerate(self._layers()):
            if flatten_first:
                h = h.flatten(1)
            h = layer(h)
            mean, var = stats[i] if stats is not None else norm.stats(h[:n_ref])
            used.append((mean, var))
            h = self.act(norm.normalize(h, mean, var))
        return h, used

    def _split_stats(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if flat.shape[-1] != self.stats_size:
            raise ConfigError(f"vbn_cnn: statistics tensor has {flat.shape[-1]} values, expected {self.stats_size}")
        means, vars_ = flat.split([sum(self._norm_sizes)] * 2)
        return list(zip(means.split(self._norm_sizes), vars_.split(self._norm_sizes)))

    def forward(self, x: torch.Tensor | None, stats: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for ``x`` (any leading batch dims); ``x=None`` returns the flat reference statistics."""
        if stats is None and self.reference.shape[0] == 0:
            raise RuntimeError(
                "vbn_cnn: no reference batch set; call set_reference(obs) with fixed observations before the "
                "first forward (rlsub.envs.li2018.attach_reference does it for a task and seed)"
            )
        if x is None:
            _, used = self._run(self._images(self.reference), self.reference.shape[0], None)
            return torch.cat([torch.cat([m for m, _ in used]), torch.cat([v for _, v in used])])
        lead = x.shape[: x.dim() - self._ndim]
        h = self._images(x)
        if stats is not None:
            feats, _ = self._run(h, 0, self._split_stats(stats))
        else:
            n_ref = self.reference.shape[0]
            # One pass over [reference; x]: the reference rows set the statistics, x only reads them.
            feats, _ = self._run(torch.cat([self._images(self.reference), h]), n_ref, None)
            feats = feats[n_ref:]
        return self.out(feats).reshape(*lead, -1)


__all__ = ["ES_ATARI_CONVS", "ES_ATARI_HIDDEN", "VBN_EPS", "VBNConvNet", "VirtualBatchNorm", "same_padding"]
