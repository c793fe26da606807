"""rlsub.kernels.mlp_forward and the dense projection's CPU form: compiled loops equal their numpy forms bit
for bit, rlsub's tanh is a faithful tanh, and both agree with torch's maths."""

import numpy as np
import pytest
import torch

import rlsub.kernels.mlp_forward as mk
import rlsub.projections.dense as dense
from rlsub.projections import DenseProjection


def _ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (same-sign values)."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


def test_tanh32_is_within_a_few_ulp_of_the_true_tanh():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-12, 12, 1_000_000), np.geomspace(1e-30, 10, 200_000)]).astype(np.float32)
    x = np.concatenate([x, -x[-200_000:]])
    ref = np.tanh(x.astype(np.float64)).astype(np.float32)  # correctly rounded to float32 (all but ties)
    got = mk.tanh32(x)
    ulps = _ulps(got, ref)
    assert ulps.max() <= 6
    assert ulps.mean() < 1.0
    np.testing.assert_array_equal(mk.tanh32(-x), -got)  # odd
    tiny = x[np.abs(x) < 1e-4]
    np.testing.assert_array_equal(mk.tanh32(tiny), tiny)  # tanh x = x below float32 resolution


def test_tanh32_limits_and_specials():
    x = np.array([0.0, -0.0, 9.1, 20.0, 1e30, np.inf, -np.inf, np.nan], dtype=np.float32)
    got = mk.tanh32(x)
    np.testing.assert_array_equal(got[:7], np.array([0.0, -0.0, 1, 1, 1, 1, -1], dtype=np.float32))
    assert np.signbit(got[1]) and np.isnan(got[7])
    assert got.dtype == np.float32


def _layer_case(rng, k, n_in, n_out, capacity=None):
    capacity = capacity or k + 3
    x = rng.standard_normal((capacity, n_in)).astype(np.float32)
    W = (rng.standard_normal((capacity, n_in, n_out)) * 0.5).astype(np.float32)
    b = rng.standard_normal((capacity, n_out)).astype(np.float32)
    return x, W, b


@pytest.mark.parametrize("act", [mk.NO_ACT, mk.TANH, mk.RELU])
@pytest.mark.parametrize("shape", [(4, 64), (64, 64), (64, 2), (17, 9), (3, 1)])
def test_compiled_layer_equals_its_numpy_form(act, shape):
    if mk._kernel.get() is None:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(hash((act, shape)) % 2**32)
    k = 37
    x, W, b = _layer_case(rng, k, *shape)
    x[0, 0] = np.nan  # NaN propagates through both
    out_c = np.full((k + 3, shape[1]), 7.0, dtype=np.float32)
    out_n = out_c.copy()
    mk.layer(x, W, b, out_c, k, act)
    mk.layer_numpy(x, W, b, out_n, k, act)
    np.testing.assert_array_equal(out_c, out_n)
    assert (out_c[k:] == 7.0).all()  # copies beyond k untouched
    assert np.isnan(out_c[0]).all() and np.isfinite(out_c[1:k]).all()


def test_layer_is_the_torch_layer():
    rng = np.random.default_rng(5)
    k = 20
    x, W, b = _layer_case(rng, k, 64, 64)
    out = np.zeros((k + 3, 64), dtype=np.float32)
    mk.layer(x, W, b, out, k, mk.TANH)
    ref = torch.tanh(torch.baddbmm(torch.from_numpy(b[:k, None]), torch.from_numpy(x[:k, None]), torch.from_numpy(W[:k])))
    np.testing.assert_allclose(out[:k], ref[:, 0].numpy(), rtol=2e-6, atol=2e-6)
    assert np.abs(out[:k]).max() > 0.5


def test_layer_sums_in_input_order():
    """The pinned arithmetic: b + x0 w0 + x1 w1 + ... left to right in float32 (the case where
    another order gives other bits: 1 + 1e8 - 1e8 is 0 left to right, 1 otherwise)."""
    x = np.array([[1.0, 1.0]], dtype=np.float32)
    W = np.array([[[1e8], [-1e8]]], dtype=np.float32)
    b = np.array([[1.0]], dtype=np.float32)
    for fn in (mk.layer, mk.layer_numpy):
        out = np.zeros((1, 1), dtype=np.float32)
        fn(x, W, b, out, 1, mk.NO_ACT)
        assert out[0, 0] == np.float32(np.float32(1.0 + 1e8) - 1e8)


@pytest.mark.parametrize("d", [1, 7, 32])
def test_dense_offset_rows_equal_numpy_form_and_the_projection(d):
    D = 2500  # more than one column block
    proj = DenseProjection(D, d, seed=3)
    theta_0 = np.random.default_rng(1).standard_normal(D).astype(np.float32)
    x = np.random.default_rng(2).standard_normal((9, d)).astype(np.float32)
    P_t = proj.P_t.numpy()
    got = dense.offset_rows(theta_0, P_t, x)
    np.testing.assert_array_equal(got, dense.offset_rows_numpy(theta_0, P_t, x))
    ref = torch.from_numpy(theta_0) + proj(torch.from_numpy(x))
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-5, atol=1e-5)
    for r in range(9):  # a row alone gives the same bits
        np.testing.assert_array_equal(dense.offset_rows(theta_0, P_t, x[r:r + 1])[0], got[r])
    np.testing.assert_array_equal(dense.offset_rows(theta_0, P_t, np.zeros((2, d), np.float32)), np.stack([theta_0] * 2))


class _NoNumba:
    def __init__(self) -> None:
        self.calls = 0

    def get(self):
        self.calls += 1
        return None


class _Counted:
    """A module's ``LazyJit`` that counts how often its compiled kernel is fetched."""

    def __init__(self, lazy) -> None:
        self.lazy, self.calls = lazy, 0

    def get(self):
        self.calls += 1
        return self.lazy.get()


def test_an_evaluation_without_numba_has_the_same_bits(monkeypatch):
    """The numpy forms are the fallback where numba is missing: a whole scheduled evaluation
    (projection, forward, CartPole physics, step bookkeeping) gives the same returns with the
    compiled kernels and without them."""
    import rlsub.envs.cartpole_batch as cb
    import rlsub.evaluation.slot_rollout as rollout
    from rlsub.evaluation.population import PopulationEvaluator
    from rlsub.subspace import Subspace
    from rlsub.tasks.rl import env_task

    pytest.importorskip("numba")
    task = env_task("CartPole-v1")
    spec = task.policy_spec()
    thetas = np.random.default_rng(4).normal(size=(6, 8)) * 2

    def returns():
        ev = PopulationEvaluator(task, Subspace(spec.build(0), d=8, seed=0), spec)
        try:
            return ev.evaluate(thetas, episodes=2, seed=11).returns
        finally:
            ev.close()

    sites = [(mk, "_kernel"), (dense, "_kernel"), (cb, "_kernel"), (rollout, "_count_kernel")]
    compiled = [_Counted(getattr(mod, name)) for mod, name in sites]
    for (mod, name), c in zip(sites, compiled):
        assert c.lazy.get() is not None  # numba is here: each site has its compiled kernel
        monkeypatch.setattr(mod, name, c)
    ref = returns()
    assert all(c.calls > 0 for c in compiled)  # ... and the reference evaluation ran every one of them
    missing = [_NoNumba() for _ in sites]
    for (mod, name), m in zip(sites, missing):
        monkeypatch.setattr(mod, name, m)
    np.testing.assert_array_equal(returns(), ref)
    assert all(m.calls > 0 for m in missing)  # every site asked, found no kernel and ran its numpy form
    assert ref.max() > 30  # trained-looking members, so most of the work is real stepping


@pytest.mark.parametrize("with_live", [True, False])
@pytest.mark.parametrize("max_steps", [0, 5])
def test_compiled_step_bookkeeping_equals_its_numpy_form(with_live, max_steps):
    import rlsub.evaluation.slot_rollout as rollout

    if rollout._count_kernel.get() is None:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(max_steps + with_live)
    k, cap = 40, 50
    reward = rng.standard_normal(k).astype(np.float32)
    term, trunc = rng.random(k) < 0.2, rng.random(k) < 0.1
    live = rng.random(cap) < 0.8 if with_live else None
    outs = []
    for fn in (rollout._count_step, rollout._count_step_numpy):
        ret, t, done = np.linspace(0, 3, cap), np.arange(cap) % 7, np.zeros(k, bool)
        n, finite = fn(reward, term, trunc, live, ret, t, max_steps, done)
        outs.append((int(n), bool(finite), ret, t, done))
    (n1, f1, r1, t1, d1), (n2, f2, r2, t2, d2) = outs
    assert (n1, f1) == (n2, f2) and f1 and n1 == d1.sum() > 0
    for a, b in ((r1, r2), (t1, t2), (d1, d2)):
        np.testing.assert_array_equal(a, b)
    reward[3] = np.nan
    assert not rollout._count_step(reward, term, trunc, live, r1, t1, max_steps, d1)[1]
