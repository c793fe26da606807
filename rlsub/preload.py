"""What a sweep worker needs, imported once by the fork server its workers are forked from (``rlsub.pool``).

Only imports: nothing here runs a trial or touches an RNG, so a forked worker starts in the state a
spawned one reaches after importing the same modules.
"""

from __future__ import annotations

import rlsub.sweep  # noqa: F401 - the worker entry points, the runner, tasks, lockstep, torch
from rlsub.agents.cmaes import import_pycma

import_pycma()
try:  # the compiled kernels' compiler (each kernel still loads its cached machine code on first use)
    import numba  # noqa: F401
except ImportError:  # pragma: no cover - numpy forms then
    pass
