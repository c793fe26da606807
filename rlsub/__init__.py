"""rlsub: measure the intrinsic dimension of RL and supervised tasks in random subspaces."""

__version__ = "0.1.0"
