"""DQN over θ_d: the single-trial engine, the batched engine (seeds trained together), the engine switch,
the replay buffer and the batched envs."""
