"""Reparameterise any unchanged ``nn.Module`` in a random subspace: θ = θ_0 + P·θ_d.

>>> net = torch.nn.Linear(4, 2)
>>> sub = Subspace(net, d=3, projection="dense", seed=0)
>>> sub(torch.zeros(1, 4)).shape          # θ_d = 0 reproduces the original network
torch.Size([1, 2])
>>> sub.theta_d.shape                     # the only trainable parameter
torch.Size([3])
>>> net.weight.requires_grad              # wrapping freezes the module's own parameters (θ_0)
False

A population (direct search): ``population_params(thetas)`` with ``thetas`` of shape ``[pop, d]``, then
``population_forward(params, xs)`` with ``xs`` of shape ``[pop, batch, *input]`` (each member its own
batch; expand one shared batch with ``x.expand(pop, *x.shape)``):

>>> params = sub.population_params(torch.zeros(5, 3))
>>> sub.population_forward(params, torch.zeros(5, 8, 4)).shape
torch.Size([5, 8, 2])

docs/guide/report.md has a complete training loop with a torch optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, vmap
from torch.nn import functional as F

from rlsub.projections import Projection, make_projection


class Subspace(nn.Module):
    """Holds θ_0 (frozen, flat), the projection P and the trainable θ_d (initialised to zero).

    The wrapped module's parameter values are never modified; it runs through
    ``torch.func.functional_call`` with parameters computed from θ_d, so gradients flow through P into
    θ_d only. **Wrapping freezes the module:** every parameter of ``module`` gets
    ``requires_grad=False`` (they are θ_0, copied into the buffer ``theta_0``), so an optimizer built on
    ``module.parameters()`` afterwards trains nothing; build it on ``[sub.theta_d]`` (``sub.parameters()``
    lists the frozen module's parameters too; they get no gradient). Call ``module.requires_grad_(True)``
    to train the module itself again.

    Args:
        module: any network; its current parameters become θ_0.
        d: subspace dimension (1 <= d <= D); ``None`` means the full space (identity projection).
        projection: ``dense``, ``sparse``, ``fastfood`` or ``identity``.
        seed: seed of P (P is rebuilt from (D, d, seed); it is never saved).
    """

    def __init__(self, module: nn.Module, d: int | None, projection: str = "dense", seed: int = 0):
        super().__init__()
        for p in module.parameters():
            p.requires_grad_(False)
        self.module = module
        named = [(n, p) for n, p in module.named_parameters()]
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.register_buffer("theta_0", torch.cat([p.detach().flatten() for _, p in named]).clone())
        self.D = int(self.theta_0.numel())
        if d is None:
            d, projection = self.D, "identity"
        self.projection_kind = projection
        self.seed = int(seed)
        self.projection: Projection = make_projection(projection, self.D, int(d), seed)
        self.d = int(d)
        self.theta_d = nn.Parameter(torch.zeros(self.d, device=self.theta_0.device))
        self._mlp = mlp_layers(module)

    # -- parameter maps -------------------------------------------------------------------
    def flat(self, theta_d: torch.Tensor | None = None) -> torch.Tensor:
        """θ_0 + P θ_d as a flat ``[..., D]`` tensor (θ_d defaults to the module's own)."""
        theta_d = self.theta_d if theta_d is None else theta_d
        return self.theta_0 + self.projection(theta_d)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a ``[..., D]`` tensor into the module's named parameter shapes (views)."""
        batch = flat.shape[:-1]
        parts = torch.split(flat, self.numels, dim=-1)
        return {n: t.reshape(*batch, *s) for n, t, s in zip(self.names, parts, self.shapes)}

    def params(self, theta_d: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Named parameters of the module at θ_0 + P θ_d."""
        return self.unflatten(self.flat(theta_d))

    # -- forward passes -------------------------------------------------------------------
    def forward(self, *args, theta_d: torch.Tensor | None = None, **kwargs):
        """Run the module at θ_0 + P θ_d."""
        return self.call(self.params(theta_d), *args, **kwargs)

    def call(self, params: dict[str, torch.Tensor], *args, **kwargs):
        """Run the module with explicit (already projected) parameters."""
        if self._mlp is not None and len(args) == 1 and not kwargs:
            return run_mlp(self._mlp, params, args[0])
        return functional_call(self.module, params, args, kwargs)

    def population_params(self, thetas: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named parameters for a population ``thetas`` of shape ``[pop, d]`` (leading dim pop).

        Compute this once per evaluation and reuse it for every environment step.
        """
        return self.unflatten(self.flat(thetas))

    def population_forward(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Evaluate every population member on its own inputs.

        Args:
            params: ``population_params(thetas)`` for ``thetas`` of shape ``[pop, d]``.
            x: ``[pop, batch, *input]``: member i runs on ``x[i]``. For one batch shared by every member,
                pass ``x.expand(pop, *x.shape)`` (no copy).

        Returns:
            ``[pop, batch, *output]``.
        """
        pop = next(iter(params.values())).shape[0] if params else 0
        if x.dim() < 2 or x.shape[0] != pop:
            raise ValueError(
                f"population_forward takes x as [pop, batch, *input] with pop = {pop} (the leading size of params); "
                f"got shape {tuple(x.shape)}. For one batch shared by every member, pass x.expand({pop}, *x.shape)")
        return vmap(lambda p, xi: functional_call(self.module, p, (xi,)))(params, x)

    @property
    def compression(self) -> float:
        """D / d: how many native parameters each subspace coordinate stands for."""
        return self.D / self.d

    def extra_repr(self) -> str:
        return f"D={self.D}, d={self.d}, projection={self.projection_kind!r}, seed={self.seed}"


#: Activations of a plain MLP (what ``rlsub.policies.networks.build_mlp`` makes), as the functions the modules call.
MLP_ACTIVATIONS: dict[type[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu}


def mlp_layers(module: nn.Module) -> tuple[int | None, list[tuple[str, str | None, type[nn.Module] | None]]] | None:
    """A plain MLP as ``(flatten start dim or None, [(weight name, bias name, activation type)])``, else None.

    Plain: ``nn.Sequential`` of [Flatten (first, down to the last dim)] then Linear layers each followed
    by at most one Tanh/ReLU. Both fast paths build on this: ``Subspace.call`` (``functional_call``
    swaps every parameter into the module on each call, tens of µs, and gradient agents call their
    small MLP several times per env step) and the evaluators' stacked forwards ([`mlp_plan`][rlsub.evaluation.whole_batch.mlp_plan]).
    """
    if not isinstance(module, nn.Sequential):
        return None
    start: int | None = None
    layers: list[tuple[str, str | None, type[nn.Module] | None]] = []
    for i, layer in enumerate(module):
        if isinstance(layer, nn.Flatten):
            if i != 0 or layer.end_dim != -1:
                return None
            start = layer.start_dim
        elif type(layer) is nn.Linear:
            layers.append((f"{i}.weight", f"{i}.bias" if layer.bias is not None else None, None))
        elif type(layer) in MLP_ACTIVATIONS and layers and layers[-1][2] is None:
            layers[-1] = (*layers[-1][:2], type(layer))
        else:
            return None
    return (start, layers) if layers else None


def run_mlp(mlp: tuple[int | None, list], params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Forward of ``mlp_layers(module)`` with explicit parameters: the ops the modules run, so the same bits."""
    start, layers = mlp
    if start is not None:
        x = torch.flatten(x, start, -1)
    for w, b, act in layers:
        x = F.linear(x, params[w], None if b is None else params[b])
        if act is not None:
            x = MLP_ACTIVATIONS[act](x)
    return x


def count_parameters(module: nn.Module) -> int:
    """D: the number of scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())


def log_spaced_dims(lo: int, hi: int, per_octave: int = 1) -> list[int]:
    """Integers from lo to hi spaced evenly on a log2 scale (useful for sweep grids)."""
    steps = int(round(math.log2(hi / lo) * per_octave))
    dims = {int(round(lo * 2 ** (i / per_octave))) for i in range(steps + 1)}
    return sorted(dims | {hi})
