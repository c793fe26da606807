"""Convolutional policy / Q-network family ``"cnn"`` for image observations.

The default architecture is the Nature-DQN ConvNet (Mnih et al. 2015): conv 32×8×8/4 → conv 64×4×4/2
→ conv 64×3×3/1 → Linear 512 → Linear(out), ReLU throughout; with a [4, 84, 84] input and 6 actions
it has 1,687,206 parameters. Images smaller than the Nature stack can take get a small stack instead.

Inputs may be uint8 or float, channels-first ``[..., C, H, W]`` (Atari frame stacks), channels-last
``[..., H, W, C]`` or plain ``[..., H, W]``; the layout is recorded in ``PolicySpec.options`` so a
solution file rebuilds the same network. Scaling to [0, 1] happens inside the network, so the
evaluator may ship raw uint8 frames to the device (4× less traffic than float32).

Importing this module registers the family in ``rlsub.policies.FAMILIES``.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from rlsub.errors import ConfigError
from rlsub.policies import ACTIVATIONS, FAMILIES, PolicySpec

#: Nature-DQN conv stack as (out_channels, kernel, stride).
NATURE_CONVS: tuple[tuple[int, int, int], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
#: For images too small for the Nature stack (e.g. MinAtar's 10×10).
SMALL_CONVS: tuple[tuple[int, int, int], ...] = ((16, 3, 1),)
NATURE_HIDDEN: tuple[int, ...] = (512,)

#: Largest leading/trailing dim still read as a channel axis (frame stacks, RGB(A), a few planes).
_MAX_CHANNELS = 16


def image_layout(shape: Sequence[int], dtype: Any) -> str | None:
    """``"chw"``, ``"hwc"`` or ``"hw"`` when a Box of this shape/dtype is an image, else None.

    Only uint8 Boxes count as images (float 3-D arrays are usually not pixels). When both ends
    could be channels, channels-first wins: that is what frame stacks (Atari) produce.
    """
    if np.dtype(dtype) != np.uint8:
        return None
    shape = tuple(int(s) for s in shape)
    if len(shape) == 2:
        return "hw" if min(shape) >= 8 else None
    if len(shape) != 3:
        return None
    first, last = shape[0], shape[-1]
    if first <= _MAX_CHANNELS and min(shape[1:]) >= 8:
        return "chw"
    if last <= _MAX_CHANNELS and min(shape[:2]) >= 8:
        return "hwc"
    return None


def _chw(shape: Sequence[int], layout: str) -> tuple[int, int, int]:
    if layout == "chw":
        c, h, w = shape
    elif layout == "hwc":
        h, w, c = shape
    elif layout == "hw":
        (h, w), c = shape, 1
    else:
        raise ConfigError(f"cnn: unknown image layout {layout!r}; use chw, hwc or hw")
    return int(c), int(h), int(w)


def _conv_out(size: int, convs: Sequence[Sequence[int]]) -> int:
    for _, k, s in convs:
        size = (size - k) // s + 1
    return size


def default_convs(height: int, width: int) -> tuple[tuple[int, int, int], ...]:
    """The Nature stack when the image is large enough (≥ 36×36), else a single 3×3 conv."""
    if min(_conv_out(height, NATURE_CONVS), _conv_out(width, NATURE_CONVS)) >= 1:
        return NATURE_CONVS
    return SMALL_CONVS


def cnn_spec(obs_shape: Sequence[int], dtype: Any, action, hidden: tuple[int, ...] | None = None,
             activation: str = "relu", layout: str | None = None) -> PolicySpec:
    """A ``family="cnn"`` PolicySpec for an image observation (layout detected when not given)."""
    layout = layout or image_layout(obs_shape, dtype)
    if layout is None:
        raise ConfigError(
            f"cnn: observation shape {tuple(obs_shape)} ({np.dtype(dtype)}) is not an image "
            "(expected uint8 HxW, HxWxC or CxHxW); use the mlp family"
        )
    _, h, w = _chw(obs_shape, layout)
    convs = default_convs(h, w)
    return PolicySpec(
        obs_shape=tuple(int(s) for s in obs_shape),
        action=action,
        family="cnn",
        hidden=tuple(hidden) if hidden is not None else NATURE_HIDDEN,
        activation=activation,
        options={"layout": layout, "convs": [list(c) for c in convs], "scale": 1.0 / 255.0},
    )


class ConvNet(nn.Module):
    """Conv stack → flatten → MLP head; accepts any leading batch dims and uint8 or float input."""

    def __init__(self, obs_shape: Sequence[int], layout: str, convs: Sequence[Sequence[int]],
                 hidden: Sequence[int], activation: str, out_dim: int, scale: float) -> None:
        super().__init__()
        c, h, w = _chw(obs_shape, layout)
        self.layout = layout
        self.scale = float(scale)
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for out_c, k, s in convs:
            layers += [nn.Conv2d(c, int(out_c), int(k), int(s)), act()]
            c = int(out_c)
        self.conv = nn.Sequential(*layers)
        oh, ow = _conv_out(h, convs), _conv_out(w, convs)
        if oh < 1 or ow < 1:
            raise ConfigError(f"cnn: image {h}x{w} is too small for conv layers {list(map(list, convs))}")
        sizes = [c * oh * ow, *hidden]
        head: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            head += [nn.Linear(a, b), act()]
        head.append(nn.Linear(sizes[-1], out_dim))
        self.head = nn.Sequential(*head)
        self._ndim = 2 if layout == "hw" else 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[: x.dim() - self._ndim]
        x = x.reshape(-1, *x.shape[x.dim() - self._ndim :])
        if self.layout == "hwc":
            x = x.permute(0, 3, 1, 2)
        elif self.layout == "hw":
            x = x.unsqueeze(1)
        # Scale here (not in the env) so uint8 frames travel to the device as uint8.
        x = x.to(torch.float32) * self.scale
        x = self.conv(x).flatten(1)
        return self.head(x).reshape(*lead, -1)


def build_cnn(spec: PolicySpec, out_dim: int) -> nn.Module:
    """``FAMILIES["cnn"]``: a ConvNet from ``spec.options`` (layout, convs, scale)."""
    opts = spec.options
    layout = opts.get("layout") or image_layout(spec.obs_shape, np.uint8)
    if layout is None:
        raise ConfigError(f"cnn: cannot read observation shape {spec.obs_shape} as an image; set options.layout")
    convs = opts.get("convs") or default_convs(*_chw(spec.obs_shape, layout)[1:])
    return ConvNet(
        spec.obs_shape,
        layout,
        [tuple(int(v) for v in c) for c in convs],
        spec.hidden,
        spec.activation,
        out_dim,
        float(opts.get("scale", 1.0 / 255.0)),
    )


FAMILIES["cnn"] = build_cnn

__all__ = ["ConvNet", "NATURE_CONVS", "build_cnn", "cnn_spec", "default_convs", "image_layout"]
