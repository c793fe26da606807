"""Test helper: the bytes an object really holds, found by walking what it references.

``held_bytes(obj)`` follows every reference from ``obj`` (attributes, containers, closures, a module's
buffers and sub-modules, ...) and sums the storage of each distinct torch tensor and numpy array it
reaches. A projection that kept a dense P anywhere reachable, in any attribute or cache, would show it.
"""

from __future__ import annotations

import gc
import types

import numpy as np
import torch

_SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodWrapperType,
         types.WrapperDescriptorType, types.MethodDescriptorType)


def held_bytes(obj: object) -> int:
    """Bytes of the distinct tensor storages and numpy buffers reachable from ``obj``."""
    seen: set[int] = set()
    storages: dict[tuple[int, str], int] = {}
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, _SKIP):
            continue
        seen.add(id(o))
        if isinstance(o, torch.Tensor):
            s = o.untyped_storage()
            storages[s.data_ptr(), str(o.device)] = s.nbytes()
        elif isinstance(o, np.ndarray):
            base = o if o.base is None else o.base
            if isinstance(base, np.ndarray):
                storages[id(base), "numpy"] = base.nbytes
            else:
                stack.append(base)
        else:
            stack.extend(gc.get_referents(o))
    return sum(storages.values())
