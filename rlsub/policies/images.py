"""Image observations: which Boxes count as images, and their layout (``chw``, ``hwc`` or ``hw``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rlsub.errors import ConfigError

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


def chw(shape: Sequence[int], layout: str) -> tuple[int, int, int]:
    """(channels, height, width) of an image observation of this shape and layout."""
    if layout == "chw":
        c, h, w = shape
    elif layout == "hwc":
        h, w, c = shape
    elif layout == "hw":
        (h, w), c = shape, 1
    else:
        raise ConfigError(f"cnn: unknown image layout {layout!r}; use chw, hwc or hw")
    return int(c), int(h), int(w)


__all__ = ["chw", "image_layout"]
