"""Policy networks described by a small JSON-able spec, built deterministically from a seed.

The spec is what a solution file records: together with the seed it rebuilds θ_0 exactly.
Action heads map the network's raw output to an environment action:
discrete spaces take the argmax of the logits; Box spaces take tanh scaled to the bounds.

The definitions live in ``rlsub.networks`` (with the network families they build); this module
keeps the names importable from where callers have always found them.
"""

from __future__ import annotations

from rlsub.networks import ACTIVATIONS, FAMILIES, ActionSpec, PolicySpec, build_mlp

__all__ = ["ACTIVATIONS", "FAMILIES", "ActionSpec", "PolicySpec", "build_mlp"]
