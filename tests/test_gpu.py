"""CUDA paths against their CPU results (skipped without a GPU; run by benchmarks/device_check.sh).

CPU runs are the reference: on the GPU, products and trainings must agree to float tolerance
(summation orders differ), and the trial code must run end to end on the device.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from rlsub.projections import make_projection
from rlsub.projections.stacked import StackedProjection
from rlsub.tasks import run_trial, trial_context
from rlsub.trial import TrialConfig, TrialContext

#: The device under test; RLSUB_GPU_TEST_DEVICE=cpu runs these comparisons CPU-to-CPU, which checks
#: the tests themselves on a machine without a GPU.
CUDA = torch.device(os.environ.get("RLSUB_GPU_TEST_DEVICE", "cuda"))
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("kind", ["dense", "sparse", "fastfood"])
@pytest.mark.parametrize("D,d,pop", [(4610, 1000, 1), (4610, 100, 64), (300_000, 1000, 1), (300_000, 1000, 64)])
def test_projection_on_cuda_matches_cpu(kind: str, D: int, d: int, pop: int) -> None:
    if kind == "dense" and D * d > 10**8:
        pytest.skip("dense P too large for a quick test")
    P = make_projection(kind, D, d, seed=7)
    th = torch.randn(pop, d, generator=torch.Generator().manual_seed(0))
    g = torch.randn(pop, D, generator=torch.Generator().manual_seed(1))
    t_cpu = th.clone().requires_grad_()
    y_cpu = P(t_cpu)
    y_cpu.backward(g)
    Pc = P.to(CUDA)
    t_gpu = th.to(CUDA).requires_grad_()
    y_gpu = Pc(t_gpu)
    y_gpu.backward(g.to(CUDA))
    assert y_gpu.device.type == t_gpu.grad.device.type == CUDA.type
    torch.testing.assert_close(y_gpu.cpu(), y_cpu.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(t_gpu.grad.cpu(), t_cpu.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["dense", "sparse", "fastfood"])
def test_stacked_projection_on_cuda(kind: str) -> None:
    projs = [make_projection(kind, 20_000, 300, s) for s in range(4)]
    th = torch.randn(4, 300, generator=torch.Generator().manual_seed(0))
    ref = StackedProjection(projs)(th)
    out = StackedProjection([p.to(CUDA) for p in projs])(th.to(CUDA))
    assert out.device.type == CUDA.type
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-4, atol=1e-5)


def _final_test(cfg: TrialConfig, theta_d: np.ndarray) -> np.ndarray:
    ctx = trial_context(cfg)
    try:
        return np.array(ctx.final_test(theta_d))
    finally:
        ctx.close()


@pytest.mark.parametrize("method,dim,budget", [("cmaes", 8, 4000), ("es", 8, 4000), ("dqn", 64, 3000),
                                               ("ppo", 64, 4096), ("reinforce", 64, 4000)])
def test_trials_run_on_cuda(method: str, dim: int, budget: int, monkeypatch) -> None:
    """Whole trials on the GPU (collection, updates, final evaluation): every subspace the trial builds
    (policy, value net) lives on the device, and the θ_d it trained scores on the CPU what it scored
    on the device. (The training itself is not compared with a CPU run: over thousands of updates an
    argmax tie broken by another summation order sends it elsewhere.)"""
    built: list[torch.device] = []
    subspace = TrialContext.subspace

    def recorded(self, *args, **kwargs):
        sub = subspace(self, *args, **kwargs)
        built.extend(t.device for t in (sub.theta_0, sub.theta_d, *sub.projection.buffers()))
        return sub

    monkeypatch.setattr(TrialContext, "subspace", recorded)
    cfg = TrialConfig("CartPole-v1", method=method, dim=dim, projection="fastfood", seed=0, budget=budget,
                      eval_episodes=5, device=str(CUDA))
    r = run_trial(cfg)
    assert built and all(dev.type == CUDA.type for dev in built)
    assert r.theta_d.shape == (dim,) and len(r.final_returns) == 5
    on_device, on_cpu = (_final_test(replace(cfg, device=str(dev)), r.theta_d) for dev in (CUDA, "cpu"))
    if r.measure is None:  # the reported score is the final test (DQN's train100 score is not)
        np.testing.assert_array_equal(on_device, r.final_returns)
    # Same θ_d, same episode seeds: the same returns, but for at most one episode whose argmax tie
    # the two summation orders break apart.
    assert np.sum(on_device != on_cpu) <= 1
    assert np.abs(r.theta_d).max() > 0  # it trained: the final test is of a moved θ_d


def test_supervised_batched_on_cuda_matches_cpu() -> None:
    from rlsub.tasks.supervised import run_supervised_trials_batched

    configs = [TrialConfig("digits-fc", method="adam", dim=32, projection=p, seed=s, budget=1500)
               for p in ("dense", "fastfood") for s in (0, 1)]
    for group in (configs[:2], configs[2:]):
        cpu = run_supervised_trials_batched(group)
        gpu = run_supervised_trials_batched([replace(c, device=str(CUDA)) for c in group])
        for a, b in zip(cpu, gpu):
            np.testing.assert_allclose(b.theta_d, a.theta_d, atol=1e-3)
            assert abs(a.final_returns[0] - b.final_returns[0]) <= 0.02


def test_pong_population_forward_on_cuda_matches_cpu() -> None:
    from rlsub.subspace import Subspace
    from rlsub.tasks.rl import env_task

    task = env_task("Pong")
    spec = task.policy_spec()
    sub = Subspace(spec.build(0), d=100, projection="fastfood", seed=0)
    thetas = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    x = torch.randint(0, 256, (4, 2, *spec.obs_shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = sub.population_forward(sub.population_params(thetas), x)
        subc = sub.to(CUDA)
        out = subc.population_forward(subc.population_params(thetas.to(CUDA)), x.to(CUDA))
    assert out.device.type == CUDA.type
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-3, atol=1e-3)
