"""Test helper: keep the matplotlib figures a report saves, and check the PNG files they became.

``record(monkeypatch)`` wraps ``Figure.savefig`` so each saved figure stays inspectable (its axes,
lines, bars) under its file name; ``check_png`` reads a file back and checks it is that figure's
image: the figure's size at the saved dpi, and not blank.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
from matplotlib.figure import Figure


def record(monkeypatch) -> dict[str, tuple[Figure, float]]:
    """Start keeping every saved figure: ``{file name: (figure, dpi)}``."""
    saved: dict[str, tuple[Figure, float]] = {}
    savefig = Figure.savefig

    def recorded(self, fname, *args, **kwargs):
        saved[Path(fname).name] = (self, kwargs.get("dpi", self.dpi))
        return savefig(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recorded)
    return saved


def check_png(path: Path, fig: Figure, dpi: float) -> None:
    """``path`` is ``fig`` rendered at ``dpi``: its pixel size, and enough ink to be a plot."""
    img = matplotlib.image.imread(path)
    w, h = fig.get_size_inches() * dpi
    assert img.shape[:2] == (round(h), round(w))
    rgb = img[..., :3].reshape(-1, 3)
    assert (rgb.min(axis=1) < 0.9).mean() > 0.01  # not a blank canvas: axes, text and data are drawn
    assert len(np.unique(rgb, axis=0)) > 20  # several colours (data series, shading), not one flat fill
