"""CartPoleBatch against Gymnasium's single CartPole-v1: same episodes, bit for bit, per seed."""

import gymnasium as gym
import numpy as np
import pytest

from rlsub.envs.cartpole_batch import CartPoleBatch


def controller(obs: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A balancing rule with random flips: episodes of every length, some reaching the 500 cap."""
    obs = np.atleast_2d(obs)
    a = (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)
    flip = rng.random(len(a)) < noise
    a[flip] = 1 - a[flip]
    return a


def single_episode(seed: int, actions_from) -> list[tuple]:
    """(obs, reward, terminated, truncated) of one gym.make('CartPole-v1') episode."""
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    out = [(obs, None, False, False)]
    while True:
        obs, r, term, trunc, _ = env.step(int(actions_from(len(out) - 1, obs)))
        out.append((obs, r, term, trunc))
        if term or trunc:
            return out


@pytest.mark.parametrize("kernel", [True, False], ids=["numba", "numpy"])
@pytest.mark.parametrize("seed_high", [2**32, 2**40], ids=["fast-seeds", "large-seeds"])
@pytest.mark.parametrize("noise", [0.0, 0.3, 0.6])
def test_slot_api_plays_the_single_envs_episodes(noise, seed_high, kernel, monkeypatch):
    """Both start paths (rlsub.kernels.pcg64 below 2**32, numpy's PCG64 above) and both physics paths
    (the compiled kernel, the numpy fallback) play the single env's episodes."""
    import rlsub.envs.cartpole_batch as cb

    if not kernel:
        monkeypatch.setattr(cb, "_kernel", None)
    elif cb._kernel.get() is None:
        pytest.skip("numba not installed")
    n = 24
    seeds = np.random.default_rng(1).integers(0, seed_high, n)
    env = CartPoleBatch(n)
    obs = env.reset_copies(np.arange(n), seeds)
    rng = np.random.default_rng(2)
    log = [[(obs[i], None, False, False)] for i in range(n)]
    acts: list[list[int]] = [[] for _ in range(n)]
    alive = np.ones(n, dtype=bool)
    for _ in range(500):
        a = controller(obs, rng, noise)
        obs, r, term, trunc = env.step_copies(n, a)
        assert obs.dtype == np.float32 and r.dtype == np.float32
        for i in np.flatnonzero(alive):
            acts[i].append(int(a[i]))
            log[i].append((obs[i], r[i], term[i], trunc[i]))
            if term[i] or trunc[i]:
                alive[i] = False
    assert not alive.any()
    lengths = []
    for i in range(n):
        ref = single_episode(int(seeds[i]), lambda t, _o, i=i: acts[i][t])
        assert len(ref) == len(log[i])
        for (o1, r1, te1, tr1), (o2, r2, te2, tr2) in zip(ref, log[i]):
            np.testing.assert_array_equal(o1, o2)  # bit for bit
            assert (r1, bool(te1), bool(tr1)) == ((None if r2 is None else float(r2)), bool(te2), bool(tr2))
        lengths.append(len(ref) - 1)
    if noise == 0.0:  # the rule balances: every episode is truncated at the cap
        assert set(lengths) == {500} and all(bool(ep[-1][3]) for ep in log)
    else:
        assert len(set(lengths)) > 3


def test_a_copys_episode_does_not_depend_on_the_batch():
    """Seed 7 in copy 0 of 1, copy 5 of 9 and copy 30 of 31 (reset mid-run): one episode."""
    def play(n: int, slot: int, warmup: int) -> list[np.ndarray]:
        env = CartPoleBatch(n)
        env.reset_copies(np.arange(n), np.arange(n) + 1000)
        rng = np.random.default_rng(0)
        for _ in range(warmup):  # other copies' episodes run (and end: their states are garbage)
            env.step_copies(n, rng.integers(0, 2, n))
        obs = env.reset_copies([slot], [7])
        out = [obs[0]]
        for t in range(40):
            a = rng.integers(0, 2, n)
            a[slot] = t % 3 == 0
            o, _, term, _ = env.step_copies(n, a)
            out.append(o[slot])
            if term[slot]:
                break
        return out

    a, b, c = play(1, 0, 0), play(9, 5, 3), play(31, 30, 17)
    assert len(a) == len(b) == len(c)
    for x, y, z in zip(a, b, c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


def test_vector_api_equals_sync_vector_env_of_single_envs():
    """reset(seed=s) seeds copy i with s + i; NEXT_STEP autoreset continues each copy's own stream."""
    n = 6
    ours = CartPoleBatch(n)
    ref = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1") for _ in range(n)],
                                   autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    o1, _ = ours.reset(seed=42)
    o2, _ = ref.reset(seed=42)
    np.testing.assert_array_equal(o1, o2)
    rng = np.random.default_rng(3)
    autoresets = 0
    for _ in range(400):
        a = controller(o1, rng, 0.3)
        o1, r1, te1, tr1, _ = ours.step(a)
        o2, r2, te2, tr2, _ = ref.step(a)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2.astype(np.float32))
        np.testing.assert_array_equal(te1, te2)
        np.testing.assert_array_equal(tr1, tr2)
        autoresets += int((r1 == 0).sum())
    assert autoresets > 5


def test_vector_reset_mask_and_seed_list():
    env = CartPoleBatch(3)
    obs, _ = env.reset(seed=[5, 6, 7])
    single = [gym.make("CartPole-v1").reset(seed=s)[0] for s in (5, 6, 7, 9)]
    np.testing.assert_array_equal(obs, np.stack(single[:3]))
    obs2, _ = env.reset(seed=[None, 9, None], options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs2, np.stack([single[0], single[3], single[2]]))


def test_move_carries_the_episode_and_its_stream():
    env = CartPoleBatch(4)
    env.reset_copies(np.arange(4), [1, 2, 3, 4])
    env.step_copies(4, np.array([1, 0, 1, 0]))
    before = env.state[:, 3].copy()
    env.move(np.array([3]), np.array([0]))
    np.testing.assert_array_equal(env.state[:, 0], before)
    o, *_ = env.step_copies(1, np.array([1]))
    twin = CartPoleBatch(1)
    twin.reset_copies([0], [4])
    twin.step_copies(1, np.array([0]))
    o2, *_ = twin.step_copies(1, np.array([1]))
    np.testing.assert_array_equal(o, o2)


def test_grow_keeps_running_copies():
    env = CartPoleBatch(2)
    env.reset_copies([0, 1], [10, 11])
    env.step_copies(2, np.array([0, 1]))
    s = env.state.copy()
    env.grow(5)
    assert env.num_envs == 5 and env.action_space.shape == (5,)
    np.testing.assert_array_equal(env.state[:, :2], s)


def test_a_seeded_copys_stream_continues_like_the_single_env():
    """After reset_copies(seed=s), an unseeded reset draws what the single env's next reset() draws."""
    env = CartPoleBatch(3)
    env.reset_copies([0, 1, 2], [11, 2**40 + 3, 0])
    env.move(np.array([1]), np.array([2]))  # the stream travels with its episode
    obs, _ = env.reset(seed=[None, None, None], options={"reset_mask": np.array([False, False, True])})
    single = gym.make("CartPole-v1")
    single.reset(seed=2**40 + 3)
    np.testing.assert_array_equal(obs[2], single.reset()[0])
    # A fast-path seed (below 2**32) keeps only its seed until the stream is needed: two unseeded
    # resets later the copy still draws what the single env draws.
    env.reset_copies([0], [2**31 + 5])
    env.move(np.array([0]), np.array([1]))
    single.reset(seed=2**31 + 5)
    for _ in range(2):
        obs, _ = env.reset(seed=[None, None, None], options={"reset_mask": np.array([False, True, False])})
        np.testing.assert_array_equal(obs[1], single.reset()[0])
