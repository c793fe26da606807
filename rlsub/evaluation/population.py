"""Batched population evaluation: every (member, episode) of a population played in one env.

Three paths, chosen per evaluator from the policy and the env:

* **Episode-scheduled** (MLP policies with Tanh/ReLU layers on envs with a *slot* interface:
  CartPole-v1 through [`rlsub.envs.cartpole_batch.CartPoleBatch`][rlsub.envs.cartpole_batch.CartPoleBatch], any env whose ``make_vec`` is a
  plain ``SyncVectorEnv``): each (member m, episode e) is a *job* with its own episode seed
  ``seed + m * episodes + e``, run by a [`rlsub.evaluation.slot_rollout.SlotRollout`][rlsub.evaluation.slot_rollout.SlotRollout]: only live episodes are
  stepped, and each env copy carries its own member's parameters. The forward is one
  matrix-vector product per copy and layer over the live copies (on the CPU the compiled loops of
  [`rlsub.kernels.mlp_forward`][rlsub.kernels.mlp_forward], on other devices torch's ``baddbmm``), whose rows do not depend on which
  other rows share the batch (checked in ``tests/test_lockstep.py``). That is what lets
  [`rlsub.tasks.lockstep`][rlsub.tasks.lockstep] put many trials' populations into one rollout and still give each trial
  exactly the numbers it gets alone.
* **Whole-batch, MLP** (those MLPs on vector envs without the slot interface: Atari RAM through
  ``AtariVectorEnv``, Gymnasium's own vector envs): pop × episodes copies of one vector env reset
  with one seed, stepped together until the last episode ends; the forward is one batched GEMM per
  layer (``baddbmm``, activations in place).
* **Whole-batch, any network** (CNNs, virtual batch norm, other activations): the same stepping, the
  forward through ``Subspace.population_forward`` (vmap + functional_call).

Whole-batch bookkeeping follows Gymnasium 1.x NEXT_STEP autoreset ([`rlsub.evaluation.whole_batch.EpisodeTally`][rlsub.evaluation.whole_batch.EpisodeTally]):
a copy's return is counted until its first termination or truncation; later steps are ignored. On
every path a non-finite reward or observation ends the evaluation (``NonFiniteReturn``, or its
subclass ``NonFiniteObservation``), and with it the trial.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call, vmap

from rlsub.evaluation.slot_envs import slot_env, vector_env
from rlsub.evaluation.slot_mlp import MLPWeights
from rlsub.evaluation.slot_request import EvalResult, RolloutRequest
from rlsub.evaluation.slot_rollout import SlotRollout
from rlsub.evaluation.whole_batch import EpisodeTally, Lane, act_type, mlp_plan, seeds_each_copy
from rlsub.policies.networks import PolicySpec
from rlsub.projections.dense import DenseProjection, offset_rows
from rlsub.projections.identity import IdentityProjection
from rlsub.subspace import Subspace


# =============================================================================================
# the evaluator
# =============================================================================================
class PopulationEvaluator:
    """Evaluate populations of θ_d on a task with batched envs and a batched policy forward.

    MLP policies ([`rlsub.policies.networks.build_mlp`][rlsub.policies.networks.build_mlp]) on envs with a slot interface go through the
    episode-scheduled path (``SlotRollout``; see the module docstring). Otherwise the vector env
    is built lazily and reused while the number of env copies stays the same; MLPs run as one
    batched GEMM per layer, other networks through ``Subspace.population_forward``.

    ``pipeline``: with vector envs that step asynchronously (``send``/``recv``: ale_py's
    ``AtariVectorEnv``) a population of two or more members is split into two halves, each in its
    own vector env, and one half's policy forward runs while the other half's games step (the
    halves' envs are seeded exactly as the copies of one env: same returns, see ``evaluate``).

    ``max_slots``: most episodes one scheduled evaluation plays at once (more wait for a free copy).
    """

    def __init__(self, task, subspace: Subspace, spec: PolicySpec, device: str | torch.device = "cpu",
                 pipeline: bool = True, max_slots: int = 512):
        self.task = task
        self.subspace = subspace
        self.spec = spec
        self.device = torch.device(device)
        self.pipeline = pipeline
        self.max_slots = int(max_slots)
        self._async: bool | None = None
        self._envs: dict[tuple[int, int], object] = {}
        self._rollout: SlotRollout | None = None
        self._scheduled: bool | None = None

    # -- the scheduled path -------------------------------------------------------------------
    def mlp_signature(self) -> tuple | None:
        """The policy's layer signature when it is a plain MLP (the scheduled path), else None."""
        if not hasattr(self, "_signature"):
            plan = mlp_plan(self.subspace.module, len(self.spec.obs_shape))
            sig = None
            if plan is not None:
                sub = self.subspace
                shapes = dict(zip(sub.names, sub.shapes))
                starts = dict(zip(sub.names, np.cumsum([0, *sub.numels[:-1]]).tolist()))
                sig = tuple((shapes[w][1], shapes[w][0], b is not None, act_type(act)) for w, b, act in plan)
                # Where each layer's weight ([out, in], row-major) and bias sit in the flat θ.
                self._offsets = [((starts[w], *shapes[w]), starts[b] if b is not None else None) for w, b, _ in plan]
            self._plan, self._signature = plan, sig
        return self._signature

    def weights(self, thetas: torch.Tensor | np.ndarray, lo: int = 0, hi: int | None = None) -> MLPWeights:
        """θ_0 + Pθ_d of every row of ``thetas`` (projected as one ``[pop, d]`` batch, so a member's
        parameters do not depend on how the population is later split), members lo:hi kept.

        The layers are views into the flat ``[pop, D]`` parameters (``SlotRollout`` copies each
        member's rows into its env copy when the copy takes a job)."""
        sig = self.mlp_signature()
        if sig is None:
            raise ValueError("weights() needs a plain MLP policy")
        flat = self._flat_numpy(thetas) if self.device.type == "cpu" else None
        if flat is None:
            with torch.no_grad():
                if not torch.is_tensor(thetas):
                    thetas = torch.from_numpy(np.asarray(thetas))
                thetas = thetas.to(self.device, torch.float32).reshape(-1, self.subspace.d)
                flat = self.subspace.flat(thetas)
            if self.device.type == "cpu":
                flat = flat.numpy()
        hi = flat.shape[0] if hi is None else hi
        flat = flat[lo:hi]
        W, b = [], []
        for (w_off, n_out, n_in), b_off in self._offsets:
            w = flat[:, w_off: w_off + n_out * n_in].reshape(-1, n_out, n_in)
            W.append(w.transpose(0, 2, 1) if self.device.type == "cpu" else w.transpose(1, 2))
            b.append(flat[:, b_off: b_off + n_out] if b_off is not None else None)
        return MLPWeights(W, b, sig)

    def _flat_numpy(self, thetas) -> np.ndarray | None:
        """θ_0 + Pθ_d on the CPU without torch, for dense and identity projections (None: others).

        Dense: [`rlsub.projections.dense.offset_rows`][rlsub.projections.dense.offset_rows] (fixed summation order). A torch call
        between rollout steps costs tens of µs more than on warm caches, and these run once per
        evaluation of every trial of a lockstep sweep."""
        proj = self.subspace.projection
        if not isinstance(proj, (DenseProjection, IdentityProjection)):
            return None
        if not hasattr(self, "_theta_0_np"):
            self._theta_0_np = self.subspace.theta_0.detach().cpu().numpy()
            self._P_t_np = proj.P_t.detach().cpu().numpy() if isinstance(proj, DenseProjection) else None
        x = thetas.detach().cpu().numpy() if torch.is_tensor(thetas) else thetas
        x = np.asarray(x, dtype=np.float32).reshape(-1, self.subspace.d)
        if self._P_t_np is None:
            return self._theta_0_np + x  # identity: P θ_d = θ_d
        return offset_rows(self._theta_0_np, self._P_t_np, x)

    def request(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int,
                members: tuple[int, int] | None = None, owner: object = None) -> RolloutRequest:
        """The scheduled evaluation of ``thetas`` as a ``RolloutRequest`` (run it in any
        ``SlotRollout`` of this policy's signature, then ``collect`` it). Member m's episode e is
        seeded ``seed % 2**31 + m * episodes + e``; ``members=(lo, hi)`` keeps rows lo:hi."""
        pop = int(np.prod(tuple(thetas.shape))) // self.subspace.d
        lo, hi = members if members is not None else (0, pop)
        if not 0 <= lo < hi <= pop:
            raise ValueError(f"bad member slice {lo}:{hi} of a population of {pop}")
        base = int(seed) % 2**31
        seeds = base + np.arange(lo * episodes, hi * episodes, dtype=np.int64)
        return RolloutRequest(self.weights(thetas, lo, hi), hi - lo, episodes, seeds,
                              obs_norm=self._obs_norm(), record=self._record_obs(), owner=owner)

    def collect(self, req: RolloutRequest) -> EvalResult:
        """The result of a finished request (raises its error); observations go to ``_observed``."""
        res = req.result()
        if req.record and req.observations is not None:
            self._observed(req.observations)
        return res

    def rollout(self, capacity: int) -> SlotRollout | None:
        """This evaluator's own ``SlotRollout`` (None when the scheduled path does not apply)."""
        if self._scheduled is False:
            return None
        if self._rollout is None:
            sig = self.mlp_signature()
            env = None
            if sig is not None:
                vec = vector_env(self.task, capacity)
                env = slot_env(self.task, capacity, vec)
                if env is None:
                    vec.close()
            if env is None:
                self._scheduled = False
                return None
            self._scheduled = True
            self._rollout = SlotRollout(env, sig, self.spec.action, int(np.prod(self.spec.obs_shape)),
                                        self.task.max_episode_steps, self.task.name, capacity, self.device)
        self._rollout.ensure_capacity(capacity)
        return self._rollout

    # Hooks for observation normalisation (agents.es.NormalizedEvaluator).
    def _obs_norm(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def _record_obs(self) -> bool:
        return False

    def _observed(self, observations: np.ndarray) -> None:
        pass

    # -- evaluate ---------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int,
                 members: tuple[int, int] | None = None) -> EvalResult:
        """Run ``episodes`` episodes for each row of ``thetas`` (``[pop, d]``), seeded by ``seed``.

        Scheduled path: member m's episode e is seeded ``seed % 2**31 + m * episodes + e``.
        Whole-batch path: it runs in env copy ``m * episodes + e`` of one vector env reset with
        ``seed``. ``members=(lo, hi)`` evaluates only rows lo:hi, with exactly the returns a full
        evaluation gives them (used to split a population across workers): the scheduled path
        plays just those jobs; on the whole-batch path, vector envs that seed copy i with
        ``seed + i`` are built at the slice's size and reset with ``seed + lo*episodes``; others
        (one RNG for all copies) are built at full size, and the copies of other members get a
        filler action and are ignored. "Exactly" holds by construction on the scheduled path (the
        fixed-order forward of ``rlsub.kernels.mlp_forward``, no BLAS); on the whole-batch path (CNN, Atari
        RAM) the members' forward is one batched torch product whose kernel the BLAS library picks by
        shape and alignment, so a split population's returns are equal on one machine, not guaranteed
        on every CPU (see docs/guide/determinism.md).
        """
        if not torch.is_tensor(thetas):
            thetas = np.asarray(thetas)
        if self.mlp_signature() is not None and self._scheduled is not False:
            pop = int(np.prod(tuple(thetas.shape))) // self.subspace.d
            lo, hi = members if members is not None else (0, pop)
            n = max(1, min((hi - lo) * episodes, self.max_slots))
            rollout = self.rollout(n)
            if rollout is not None:
                return self.collect(rollout.run(self.request(thetas, episodes, seed, members)))
        return self._evaluate_batch(thetas, episodes, seed, members)

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        self._envs.clear()
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None

    # -- the whole-batch path ----------------------------------------------------------------------
    def _vec(self, num_envs: int, lane: int = 0):
        """A vector env of ``num_envs`` copies, kept for reuse (MuJoCo/Atari envs are slow to build);
        ``lane`` tells apart the envs of a pipelined evaluation's two halves."""
        if (num_envs, lane) not in self._envs:
            self._envs[num_envs, lane] = vector_env(self.task, num_envs)
        return self._envs[num_envs, lane]

    def _policy(self, params: dict[str, torch.Tensor], pop: int, episodes: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function ``x [pop, episodes, *obs] -> out [pop, episodes, out_dim]`` for these params."""
        obs_ndim = len(self.spec.obs_shape)
        plan = mlp_plan(self.subspace.module, obs_ndim)
        if plan is None:
            module = self.subspace.module
            if hasattr(module, "stats_size"):
                # Virtual batch norm: each member's reference statistics once per evaluation, not per step
                # (the reference batch is 128 frames; every step would otherwise push them through again).
                stats = vmap(lambda p: functional_call(module, p, (None,)))(params)
                return lambda x: vmap(lambda p, st, xi: functional_call(module, p, (xi, st)))(params, stats, x)
            return lambda x: self.subspace.population_forward(params, x)
        layers = []
        for w_name, b_name, act in plan:
            w = params[w_name]  # [pop, out, in]
            wt = w.transpose(1, 2).contiguous()  # once per evaluation: bmm is ~15% faster on it
            b = params[b_name].unsqueeze(1) if b_name is not None else None  # [pop, 1, out]
            buf = torch.empty(pop, episodes, w.shape[1], dtype=w.dtype, device=w.device)
            layers.append((wt, b, act, buf))

        def forward(x: torch.Tensor) -> torch.Tensor:
            h = x.reshape(pop, episodes, -1)
            for wt, b, act, buf in layers:
                # baddbmm fuses the bias into the product (one kernel, one pass over the output).
                h = torch.baddbmm(b, h, wt, out=buf) if b is not None else torch.bmm(h, wt, out=buf)
                if act is not None:
                    act(h)
            return h

        return forward

    def _evaluate_batch(self, thetas: torch.Tensor | np.ndarray, episodes: int, seed: int,
                        members: tuple[int, int] | None = None) -> EvalResult:
        thetas = torch.as_tensor(np.asarray(thetas) if not torch.is_tensor(thetas) else thetas)
        thetas = thetas.to(self.device, torch.float32).reshape(-1, self.subspace.d)
        pop = thetas.shape[0]
        lo, hi = members if members is not None else (0, pop)
        if not 0 <= lo < hi <= pop:
            raise ValueError(f"bad member slice {lo}:{hi} of a population of {pop}")
        # θ_0 + Pθ_d for the whole population (same shapes as an unsplit call: bit-identical params).
        params = self.subspace.population_params(thetas)
        k, first = hi - lo, lo * episodes
        m = k * episodes
        if k != pop:
            params = {name: v[lo:hi] for name, v in params.items()}
        seed = int(seed) % 2**31
        if self._can_pipeline(k, episodes):
            return self._evaluate_pipelined(params, k, episodes, seed + first)
        policy = self._policy(params, k, episodes)
        mine: slice | None = None
        if k == pop:
            env = self._vec(m)
            obs, _ = env.reset(seed=seed)
        elif seeds_each_copy(self._vec(m)):
            env = self._vec(m)
            obs, _ = env.reset(seed=seed + first)
        else:
            env = self._vec(pop * episodes)
            obs, _ = env.reset(seed=seed)
            mine = slice(first, first + m)
        tally = EpisodeTally(m, self.task.name)
        tally.check_observations(obs if mine is None else obs[mine])
        for _ in range(self.task.max_episode_steps + 1):
            action = self._act(policy, obs if mine is None else obs[mine], k, episodes)
            if mine is not None:
                full = np.empty((pop * episodes, *action.shape[1:]), dtype=action.dtype)
                full[:] = action[0]
                full[mine] = action
                action = full
            obs, reward, terminated, truncated, _ = env.step(action)
            if mine is not None:
                reward, terminated, truncated = np.asarray(reward)[mine], np.asarray(terminated)[mine], np.asarray(truncated)[mine]
            tally.add(reward, terminated, truncated, obs if mine is None else obs[mine])
            if tally.finished:
                break
        return EvalResult(tally.returns.reshape(k, episodes), tally.steps)

    def _act(self, policy: Callable[[torch.Tensor], torch.Tensor], obs: np.ndarray, k: int, episodes: int) -> np.ndarray:
        """Env actions of ``k`` members × ``episodes`` copies for observations ``obs``."""
        x = torch.as_tensor(obs, device=self.device)
        # Pixels travel as uint8 (4x less traffic to a GPU); the CNN scales them itself.
        if self.spec.family != "cnn":
            x = x.to(torch.float32)
        out = policy(x.reshape(k, episodes, *self.spec.obs_shape))
        return self.spec.action.to_env(out.reshape(k * episodes, -1))

    def _can_pipeline(self, k: int, episodes: int) -> bool:
        """Whether ``k`` members can be evaluated pipelined (decided once, from the first half's env)."""
        if not (self.pipeline and k >= 2):
            return False
        if self._async is None:
            env = self._vec((k // 2) * episodes, lane=1)
            self._async = hasattr(env, "send") and hasattr(env, "recv") and seeds_each_copy(env)
        return self._async

    def _evaluate_pipelined(self, params: dict[str, torch.Tensor], k: int, episodes: int, seed: int) -> EvalResult:
        """``evaluate`` for members 0..k of ``params`` in two halves that overlap policy and env time.

        Half h's envs are copies ``lo_h·episodes…`` of the unsplit env, reset with ``seed +
        lo_h·episodes`` (these envs seed copy i with seed + i), so every episode is the one an
        unsplit evaluation plays; each half steps until its own envs are done.
        """
        cut = k // 2
        lanes = []
        for i, (lo, hi) in enumerate(((0, cut), (cut, k))):
            env = self._vec((hi - lo) * episodes, lane=i + 1)
            obs, _ = env.reset(seed=seed + lo * episodes)
            policy = self._policy({name: v[lo:hi] for name, v in params.items()}, hi - lo, episodes)
            lanes.append(Lane(env, policy, hi - lo, obs, EpisodeTally((hi - lo) * episodes, self.task.name)))
            lanes[-1].tally.check_observations(obs)
        try:
            for lane in lanes:
                lane.send(self._act(lane.policy, lane.obs, lane.members, episodes))
            active = list(lanes)
            while active:
                for lane in list(active):
                    # While this half is received and its next actions computed, the other half's
                    # games step in the env's own threads.
                    obs, reward, terminated, truncated, _ = lane.recv()
                    lane.tally.add(reward, terminated, truncated, obs)
                    lane.iterations += 1
                    if lane.tally.finished or lane.iterations > self.task.max_episode_steps:
                        active.remove(lane)
                    else:
                        lane.send(self._act(lane.policy, obs, lane.members, episodes))
        finally:
            for lane in lanes:  # an error mid-step (a NaN reward or observation) must not leave a step in flight
                if lane.in_flight:
                    lane.recv()
        returns = np.concatenate([lane.tally.returns for lane in lanes])
        return EvalResult(returns.reshape(k, episodes), sum(lane.tally.steps for lane in lanes))
