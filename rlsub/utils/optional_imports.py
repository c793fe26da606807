"""Importing a third-party module without the optional extras it would import but rlsub never uses."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType


def import_without(name: str, unneeded: tuple[str, ...]) -> ModuleType:
    """``import name`` while the packages ``unneeded`` cannot be imported (those not already loaded).

    For libraries that import optional packages at import time behind ``try: ... except ImportError``:
    pycma imports matplotlib (for ``cma.plot``) and scipy.stats (for a surrogate model's rank
    correlation, with its own fallback), over a second of a sweep worker's start-up that rlsub's CMA-ES
    never uses. Afterwards ``unneeded`` import normally again; only ``name``'s own optional features that
    need them stay off in this process. Example: ``cma = import_without("cma", ("matplotlib", "scipy.stats"))``.
    """
    if name in sys.modules:
        return sys.modules[name]
    blocked = [m for m in unneeded if m not in sys.modules]
    for m in blocked:
        sys.modules[m] = None  # type: ignore[assignment]  # makes `import m` raise ImportError
    try:
        with warnings.catch_warnings():  # "could not import matplotlib.pyplot, cma.plot() not available"
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]


__all__ = ["import_without"]
