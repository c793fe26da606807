"""What a sweep worker needs, imported once by the fork server its workers are forked from ([`rlsub.execution.worker_pool`][rlsub.execution.worker_pool]).

Imports, and numba's cached kernels loaded: nothing here runs a trial or touches an RNG, so a forked worker
starts in the state a spawned one reaches after importing the same modules and loading the same kernels.
Nothing here may fail: the fork server would die with it, so a failing import is left to the worker, which
reports it as the trial's crash.
"""

from __future__ import annotations

try:
    import rlsub.sweeps.run  # noqa: F401 - the worker entry points, the runner, tasks, lockstep, torch
    from rlsub.agents.cmaes import import_pycma

    import_pycma()
    from rlsub.kernels.lazy_jit import load_cached

    load_cached()  # numba, and the kernels' cached machine code: forked workers start with them loaded
except Exception:  # noqa: BLE001, S110 - see the docstring
    pass
