"""rlsub: measure the intrinsic dimension of RL and supervised tasks in random subspaces."""

__version__ = "0.1.0"

#: Public names served lazily (``from rlsub import estimate_dint``): the module behind each is imported on first
#: use, so ``import rlsub`` (and ``rlsub --help``) stays free of numpy-heavy analysis code, torch and scipy.
_LAZY = {"estimate_dint": "rlsub.analysis.estimator", "compare_estimates": "rlsub.analysis.estimator",
         "fit_d50": "rlsub.analysis.success_fit"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlsub' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
