"""Li et al. (2018)'s RL protocols as named presets: the networks, envs and settings behind their d_int90.

Li, Farkhoor, Liu & Yosinski, *Measuring the Intrinsic Dimension of Objective Landscapes* (ICLR 2018)
report d_int90 for four RL tasks (``rlsub/data/li2018_dint90.csv``, shipped with the package). This module pins down
each protocol as far as the paper, its official code (uber-research/intrinsic-dimension) and the ES
code of the same lab (uber-research/deep-neuroevolution, which extends openai/evolution-strategies-
starter) allow, and says where every setting comes from (``sources`` of each preset):

* ``CartPole-v0-li2018``: DQN, MLP 4-20-20-2 with ReLU, D = 562, paper d_int90 = 25.
* ``InvertedPendulum-li2018``: ES, MLP 4-20-20-2 with tanh and 2 force bins (±3), D = 562, paper 4.
* ``Humanoid-li2018``: ES, MLP 376-256-256-17 with tanh on Humanoid-v4, D = 166,673, paper 700.
* ``Pong-li2018``: ES, the ES Atari CNN with virtual batch norm, D = 1,005,974, paper 6,000.

The presets (``LI2018_PRESETS``) are ``EnvPreset`` values like every other table's
(``envs/preset_types.py``); ``envs/presets.py`` adds them to ``PRESETS``. ``UniformBins`` is the
pendulum's action wrapper and ``reference_batch``/``attach_reference`` build the fixed observation
batch that the Pong network's virtual batch norm needs.

What these presets cannot reproduce (rlsub's machinery differs) is listed under ``sources["gaps"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from rlsub.utils.seeding import derive_seed

from .preset_types import AtariSettings, EnvPreset

if TYPE_CHECKING:
    from torch import nn

#: Size of the VBN reference batch (Salimans et al.'s ES code: ``get_ref_batch(env, batch_size=128)``).
REFERENCE_BATCH = 128

#: CartPole DQN: the official code anneals ε over this many updates (one update per env step).
DQN_ANNEAL_STEPS = 10_000
#: CartPole DQN budget in env steps: the official loop's ceiling, 10,000 episodes of at most 200 steps
#: (it stops once the last-100-episode mean reaches 195, so solved runs use far fewer).
CARTPOLE_DQN_BUDGET = 2_000_000


class UniformBins(gym.ActionWrapper):
    """A 1-d Box action as ``Discrete(bins)`` over ``bins`` evenly spaced values *including the bounds*.

    This is the ``"uniform:N"`` action head of the ES MuJoCo policy (openai/evolution-strategies-starter,
    ``MujocoPolicy``): action ``i`` is ``low + i·(high - low)/(bins - 1)``, so 2 bins are bang-bang
    control at ±bound (InvertedPendulum: force −3 or +3). Gymnasium's ``DiscretizeAction(bins=2)``
    differs: it uses bin *centres* (±1.5 on the pendulum), i.e. half the force.
    """

    def __init__(self, env: gym.Env, bins: int = 2) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or int(np.prod(space.shape)) != 1:
            raise TypeError(f"UniformBins needs a 1-d Box action space, got {space}")
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise ValueError(f"UniformBins needs finite action bounds, got {space}")
        if int(bins) < 2:
            raise ValueError(f"UniformBins needs bins >= 2, got {bins}")
        self.bins = int(bins)
        self.values = np.linspace(float(space.low.ravel()[0]), float(space.high.ravel()[0]), self.bins)
        self._shape, self._dtype = space.shape, space.dtype
        self.action_space = gym.spaces.Discrete(self.bins)

    def action(self, action: Any) -> np.ndarray:
        i = int(np.asarray(action).reshape(()))
        if not 0 <= i < self.bins:
            raise ValueError(f"action {i} outside Discrete({self.bins})")
        return np.full(self._shape, self.values[i], dtype=self._dtype)


def reference_batch(make_env: Callable[[], gym.Env], seed: int, n: int = REFERENCE_BATCH) -> np.ndarray:
    """``n`` observations from uniformly random actions, as the ES code's ``get_ref_batch`` collects them.

    Deterministic in ``seed`` (env reset and action sampling are seeded from it), so a replay rebuilds
    the same batch from the trial seed. Observations are taken after each step; an episode that
    ends is reset and collection continues.
    """
    env = make_env()
    try:
        obs, _ = env.reset(seed=derive_seed(seed, "vbn_reference") % 2**31)
        env.action_space.seed(derive_seed(seed, "vbn_reference", "actions") % 2**31)
        out = []
        while len(out) < n:
            obs, _, term, trunc, _ = env.step(env.action_space.sample())
            out.append(np.array(obs, copy=True))
            if term or trunc:
                obs, _ = env.reset()
        return np.stack(out)
    finally:
        env.close()


def attach_reference(net: nn.Module, make_env: Callable[[], gym.Env], seed: int, n: int = REFERENCE_BATCH) -> bool:
    """Give a virtual-batch-norm network (``set_reference``) its reference batch; False for other networks.

    Call it right after ``spec.build(seed)`` in every process that builds the network (trial, workers,
    replay), with the task's ``make`` and the trial seed.
    """
    setter = getattr(net, "set_reference", None)
    if setter is None:
        return False
    setter(reference_batch(make_env, seed, n))
    return True


# -- the presets --------------------------------------------------------------------------------
_PAPER = "Li et al. 2018, summary table / official notebook intrinsic_dim/plots/main_plots.ipynb"
_ES_STARTER = "openai/evolution-strategies-starter es_distributed/policies.py (MujocoPolicy)"
_ES_ATARI = "uber-research/deep-neuroevolution es_distributed/policies.py (ESAtariPolicy)"

CARTPOLE_V0 = EnvPreset(
    name="CartPole-v0-li2018",
    env_id="CartPole-v0",
    revision=2,
    hidden=(20, 20),
    activation="relu",
    init="he_normal",
    family="mlp",
    max_episode_steps=200,
    solved_threshold=195.0,
    return_low=0.0,
    return_best=195.0,
    budget=CARTPOLE_DQN_BUDGET,
    episodes=1,
    description="Li et al. (2018) CartPole DQN protocol: CartPole-v0 (200 steps, solved at 195), "
    "MLP 4-20-20-2 (D = 562), d_int90 = 25 in the paper",
    protocol_method="dqn",
    protocol_dims=(*range(1, 26), 30, 35, 40, 45, 50),
    protocol_seeds=5,
    method_params={
        "dqn": {
            "lr": 1e-4,
            "eps_start": 0.5,
            "eps_end": 0.1,
            "exploration_steps": DQN_ANNEAL_STEPS,
            "gamma": 0.95,
            "batch_size": 32,
            "tau": 1.0,
            "target_update": 1,
            "train_freq": 1,
            "gradient_steps": 1,
            "learning_starts": 32,
            "buffer_size": 10_000,
            "huber": False,
            "max_grad_norm": 5.0,
            "double": False,
            "reward_scale": 1.0,
            "score": "train100",
            "store_every": 5,
            "bootstrap_truncation": False,
            "l2": 0.0,
            "engine": "batched",
        }
    },
    sources={
        "env_id": "official intrinsic_dim/train_dqn.py: the CartPole-v0 branch is the one the sweep used "
        "(reference/li2018_protocols.md)",
        "hidden": "plots/more/fnn_cartpole.ipynb: '4-20-20-2, #parameters=562'; README example width 20, depth 2",
        "activation": "model_builders_rl.py build_model_fc: Dense(width, activation='relu')",
        "action_head": "linear Q-values, greedy argmax (NeuralQLearner.predicted_actions); 2 actions",
        "max_episode_steps": "train_dqn.py MAX_STEPS = 200 (CartPole-v0's own TimeLimit)",
        "solved_threshold": "train_dqn.py: solved when the mean of the last 100 training episodes >= 195",
        "return_low": "rewards shifted so the minimum is 0 (reference/README.md)",
        "return_best": "the sweep notebook scores against 0.9 x 195, so 195 plays the baseline's role "
        "(the true maximum is 200); a measured full-space baseline still takes precedence in rlsub dint",
        "budget": "train_dqn.py MAX_EPISODES = 10,000 of at most 200 steps: 2M env steps is its ceiling; "
        "training stops once solved (score=train100)",
        "episodes": "rlsub default for gradient agents (unused by DQN)",
        "method_params": "train_dqn.py CartPole-v0 branch: init_exp 0.5, anneal_steps 10,000, discount 0.95, "
        "batch 32; NeuralQLearner defaults: "
        "final_exp 0.1, replay 10,000, max_gradient 5 (clip by norm), squared TD loss, no double Q, "
        "first update once the buffer holds a batch; README example: Adam lr 1e-4; exploration_steps = "
        "anneal_steps (ε decays over 10,000 steps whatever --budget is). The official score and stop rule "
        "(score=train100: mean of the last 100 training episodes, stop at 195), replay of every 5th transition "
        "plus episode ends (store_every=5), time-limit ends terminal (bootstrap_truncation=false): "
        "NeuralQLearner. Target network and L2 (inferred from the code, not run): NeuralQLearner soft-updates "
        "(rate 0.01) and penalises (reg_param 0.01) the trainable variables of the variable scopes "
        "'target_network' and 'q_network', but the Keras model built its variables (θ_d) outside both "
        "scopes, so both lists are empty: the target network is the online one (tau=1 after every step) "
        "and the penalty is 0 (l2=0); the Keras kernel_regularizer losses never enter its loss either",
        "protocol_dims": "sweep notebook: d = 1..25 and 30..50 by 5 (it also lists 125..500; the step is "
        "not recoverable from the notes)",
        "protocol_seeds": "sweep notebook: 5 runs per d",
        "init": "model_builders_rl.py: Dense kernels he_normal (Keras 2.0/2.1: normal of std sqrt(2/fan_in) "
        "truncated at 2 std), zero biases",
        "revision": "2: DQN's batched engine (rlsub.agents.dqn.batched: the sweep's trials trained as one batched "
        "computation, 4x the single engine's steps/s at 6 trials, benchmarks/dqn_batched.py; the same protocol, "
        "possibly rounded differently). "
        "1: the official score, stop rule, replay thinning, terminal time limits, the online "
        "network as target, the 2M-step ceiling and he_normal θ_0 (revision 0 scored fresh greedy episodes "
        "after 200k steps with a soft target, τ 0.01)",
        "gaps": "not reproduced: ε annealed per update (rlsub: per env step, the same after the first batch); replay sampled without "
        "replacement (rlsub: with). The official sweep scripts disagree on the optimizer (README: Adam; "
        "loop_d_cartpole_fnn_wd.sh: RMSprop, widths 400 and 20): rlsub follows the README",
    },
)

INVERTED_PENDULUM = EnvPreset(
    name="InvertedPendulum-li2018",
    env_id="InvertedPendulum-v5",
    hidden=(20, 20),
    activation="tanh",
    family="mlp",
    max_episode_steps=1000,
    solved_threshold=950.0,
    return_low=0.0,
    return_best=1000.0,
    budget=1_000_000,
    episodes=1,
    wrappers=(("rlsub.envs.li2018:UniformBins", {"bins": 2}),),
    description="Li et al. (2018) inverted pendulum ES protocol: bang-bang force (2 bins, ±3), "
    "MLP 4-20-20-2 (D = 562), d_int90 = 4 in the paper",
    protocol_method="es",
    method_params={"es": {"l2": 0.005, "obs_norm": True}},
    sources={
        "env_id": "MuJoCo InvertedPendulum (4-d state, force in [-3, 3]); the paper's version (v1 in 2018) "
        "is not published: v5 is Gymnasium's current one",
        "hidden": f"{_PAPER}: D = 562 = (4*20+20) + (20*20+20) + (20*2+2), i.e. hidden 20, 20 and 2 outputs",
        "activation": f"not published; tanh is the ES MuJoCo policy's nonlinearity ({_ES_STARTER}, "
        "configurations/humanoid.json nonlin_type)",
        "action_head": f"2 outputs for a 1-d force = the ES policy's 'uniform:2' bins head ({_ES_STARTER}): "
        "argmax over 2 scores, values linspace(low, high, 2) = ±3 (UniformBins); inferred from D",
        "max_episode_steps": "the env's own 1000-step limit (ES config episode_cutoff_mode 'env_default')",
        "solved_threshold": "Gymnasium's reward_threshold for InvertedPendulum (950)",
        "return_low": "rewards shifted so the minimum is 0 (reference/README.md); +1 per step alive",
        "return_best": "1000 = alive for all 1000 steps",
        "budget": "not published; 1M steps reached 0.956 at d = 4 with ES in reference/li2018_protocols.md's probe",
        "episodes": "one episode per perturbation, as in the ES code",
        "method_params": "ES code: l2coeff 0.005 and observation normalisation (MujocoPolicy needs_ob_stat); "
        "its noise_stdev/stepsize are in full-space units and are not carried over (rlsub's ES scales σ to d)",
        "init": "ES code: normc-initialised dense layers (0.01 for the output); rlsub: torch default init",
        "gaps": "ES action noise (ac_noise_std 0.01) is not modelled",
    },
)

HUMANOID = EnvPreset(
    name="Humanoid-li2018",
    env_id="Humanoid-v4",
    hidden=(256, 256),
    activation="tanh",
    family="mlp",
    max_episode_steps=1000,
    solved_threshold=6000.0,
    return_low=0.0,
    return_best=None,
    budget=10_000_000,
    episodes=1,
    description="Li et al. (2018) Humanoid ES protocol: 376-d observation (Humanoid-v4), "
    "MLP 376-256-256-17 (D = 166,673), d_int90 = 700 in the paper",
    protocol_method="es",
    method_params={"es": {"l2": 0.005, "obs_norm": True}},
    sources={
        "env_id": "D = 166,673 needs a 376-d input: Humanoid-v1..v4 observe 376 values (qpos 22 without x, y; "
        "qvel 23; cinert 140; cvel 84; qfrc_actuator 23; cfrc_ext 84). Humanoid-v5 drops the worldbody's "
        "cinert/cvel/cfrc_ext and the root joint's qfrc_actuator (28 values that are constantly zero in v4) "
        "and its include_*_in_observation flags only remove more, so no v5 setting gives 376. Humanoid-v4 "
        "(deprecated in Gymnasium 1.x, still registered, same mujoco bindings) is used; the ES code ran "
        "Humanoid-v1 (configurations/humanoid.json)",
        "hidden": f"{_PAPER}: D = 166,673 = (376*256+256) + (256*256+256) + (256*17+17); hidden_dims "
        "[256, 256] in the ES code's humanoid.json",
        "activation": "ES code humanoid.json: nonlin_type tanh",
        "action_head": "17 continuous outputs. ES code: linear ('continuous:'), clipped by MuJoCo's ctrlrange; "
        "rlsub: tanh scaled to [-0.4, 0.4] (same D, different squashing)",
        "max_episode_steps": "the env's 1000-step limit (humanoid.json episode_cutoff_mode 'env_default')",
        "solved_threshold": "6000: the Humanoid target of Salimans et al. (2017), the ES paper (inferred: "
        "Li et al. do not state their Humanoid threshold)",
        "return_low": "rewards shifted so the minimum is 0 (reference/README.md); Humanoid's alive bonus "
        "outweighs its control cost, so returns are >= 0",
        "return_best": "none documented: measure a full-space baseline ('full' in --dims)",
        "budget": "not published; 10M env steps is rlsub's choice",
        "episodes": "one episode per perturbation, as in the ES code",
        "method_params": "ES code humanoid.json: l2coeff 0.005, observation normalisation (calc_obstat_prob "
        "0.01); noise_stdev 0.02 / Adam stepsize 0.01 / 10,000 episodes per batch are full-space settings "
        "and are not carried over",
        "init": "ES code: normc init; rlsub: torch default init",
        "gaps": "ES action noise (ac_noise_std 0.01) is not modelled; v4's contact forces differ from v1's",
    },
)

PONG = EnvPreset(
    name="Pong-li2018",
    env_id="PongNoFrameskip-v4",
    family="vbn_cnn",
    hidden=(256,),
    activation="relu",
    max_episode_steps=5_000,
    solved_threshold=18.0,
    return_low=-21.0,
    return_best=21.0,
    budget=5_000_000,
    episodes=1,
    atari=AtariSettings(game="pong", repeat_action_probability=0.0, noop_max=30),
    description="Li et al. (2018) Pong ES protocol: ES Atari CNN (conv 16 8x8/4, conv 32 4x4/2, fc 256, "
    "virtual batch norm, SAME padding; D = 1,005,974), no sticky actions, d_int90 = 6,000 in the paper",
    protocol_method="es",
    method_params={"es": {"l2": 0.005}},
    sources={
        "env_id": f"not published by the paper; the ES Atari code of the same lab ({_ES_ATARI}) plays "
        "*NoFrameskip-v4 ids (no sticky actions) through wrap_deepmind",
        "hidden": f"{_PAPER}: D = 1,005,974 = conv 16 8x8/4 (4*64*16+16) + conv 32 4x4/2 (16*16*32+32) + "
        "fc 256 on 11*11*32 SAME-padded features + 6 outputs + batch-norm affine 2*(16+32+256); exactly the "
        f"{_ES_ATARI} network (tf.contrib layers default to SAME padding)",
        "activation": f"ReLU after each batch norm ({_ES_ATARI})",
        "action_head": "6 logits (Pong's minimal action set), argmax",
        "normalisation": f"virtual batch norm: tf batch_norm with decay 0 run on a reference batch of 128 "
        f"random-action frames before each rollout, epsilon 1e-3, scale and centre ({_ES_ATARI}; "
        "es.py get_ref_batch); rlsub's vbn_cnn family computes the same statistics statelessly",
        "atari": "wrap_deepmind in the ES Atari code: up to 30 no-op starts, frame skip 4 with max-pool, "
        "84x84 grayscale, 4-frame stack, no reward clipping, no episodic life; sticky actions 0 "
        "(NoFrameskip-v4)",
        "max_episode_steps": "5000 agent steps: episode_cutoff_mode of the ES Atari code's one published "
        "config (configurations/frostbite_es.json); Pong's own is not published",
        "solved_threshold": "rlsub's Pong preset (18)",
        "return_low": "-21 (lose 0-21); rewards shifted so the minimum is 0 (reference/README.md)",
        "return_best": "21 (win 21-0)",
        "budget": "not published; rlsub's Pong budget (5M agent steps)",
        "episodes": "one episode per perturbation, as in the ES code",
        "method_params": "ES code frostbite_es.json: l2coeff 0.005 (noise_stdev 0.005 / stepsize 0.01 are "
        "full-space settings, not carried over)",
        "init": "ES code: tf.contrib xavier init; rlsub: torch default init",
        "gaps": "FIRE on reset (wrap_deepmind's FireResetEnv) is not in rlsub's Atari pipeline; the stack is "
        "channels-first and scaled to [0, 1] inside the network (the ES code feeds raw 0..255 values: "
        "batch norm after the first conv absorbs the scale, the first conv's bias does not); the reference "
        "batch must be attached by the trial (attach_reference)",
    },
)

#: The protocols' presets (``envs/presets.py`` adds them to ``PRESETS``).
LI2018_PRESETS: tuple[EnvPreset, ...] = (CARTPOLE_V0, INVERTED_PENDULUM, HUMANOID, PONG)

#: Settings every preset here documents in ``sources``.
REQUIRED_SOURCES = ("env_id", "hidden", "activation", "action_head", "max_episode_steps", "solved_threshold",
                    "budget", "method_params")

__all__ = [
    "CARTPOLE_DQN_BUDGET", "DQN_ANNEAL_STEPS", "LI2018_PRESETS", "REFERENCE_BATCH", "REQUIRED_SOURCES",
    "UniformBins", "attach_reference", "reference_batch",
]
