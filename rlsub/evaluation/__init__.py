"""Playing a population's episodes: the population evaluator (``population``), the slot rollout and its
requests (``slot_rollout``, ``slot_request``, ``slot_mlp``, ``slot_envs``) and the whole-batch path (``whole_batch``)."""
