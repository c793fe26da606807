"""Names the command line can check before importing torch (a typo is refused in well under a
second). ``tests/test_task.py`` keeps them equal to the registries they mirror."""

from __future__ import annotations

import difflib

#: ``rlsub.agents.METHODS`` then the supervised methods (``rlsub.supervised.recipe``).
METHOD_NAMES = ("ars", "cmaes", "es", "dqn", "reinforce", "ppo", "adam", "sgd", "supervised")
#: ``rlsub.envs.PRESETS`` as shipped (TOML registrations come with --config, which skips the check).
PRESET_NAMES = ("CartPole-v1", "InvertedPendulum-v5", "Pong", "PointMass-v0", "CartPole-v0-li2018",
                "InvertedPendulum-li2018", "Humanoid-li2018", "Pong-li2018")
#: ``rlsub.tasks.supervised.SUPERVISED_TASKS``.
SUPERVISED_NAMES = ("digits-fc", "digits-lenet", "mnist-fc", "mnist-lenet")


def quick_check(env: str | None, methods: list[str], preset_names: tuple[str, ...] = PRESET_NAMES) -> str | None:
    """A one-line error for an env or method name that cannot exist, or None when they may.

    Envs given as ``module:Class`` or ALE ids are left to the full resolver.
    """
    for m in methods:
        if m not in METHOD_NAMES:
            close = difflib.get_close_matches(m, METHOD_NAMES, n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            return f"unknown method {m!r}; choose one of {', '.join(METHOD_NAMES)}{hint}"
    for name in (env or "").split(","):
        name = name.strip()
        if not name or ":" in name or name.startswith("ALE/") or name in SUPERVISED_NAMES or name in preset_names:
            continue
        import gymnasium as gym

        if name in gym.registry or "NoFrameskip" in name or name.endswith("Deterministic-v4"):
            continue
        known = list(dict.fromkeys([*preset_names, *SUPERVISED_NAMES, *gym.registry]))  # each name once
        close = difflib.get_close_matches(name, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return f"unknown environment {name!r}{hint}"
    return None


__all__ = ["METHOD_NAMES", "PRESET_NAMES", "SUPERVISED_NAMES", "quick_check"]
