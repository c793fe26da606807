"""Which projection ``auto`` (the default) picks for each experiment of a sweep, and the lines that say so.

A sweep's ``auto`` is resolved once per (env, method, width) from its largest d (``SweepSpec.trials``), so
a d_int curve never mixes projections and every stored row names the projection it used.
"""

from __future__ import annotations


from rlsub.projections import explain_projection
from rlsub.store import Store
from rlsub.sweep_spec import SweepSpec
from rlsub.tasks import resolve_task
from rlsub.trial import TrialConfig



def projection_choices(spec: SweepSpec) -> list[tuple[str, str, tuple[int, ...] | None, str, str]]:
    """``(env, method, hidden, projection, why)`` for each experiment whose projection ``auto`` picks:
    the rule ``spec.trials()`` applies (``choose_projection`` for the largest d), with its reason."""
    d_top = max((d for d in spec.dims if d is not None), default=None)
    if "auto" not in spec.projection_names() or d_top is None:
        return []
    out = []
    for env in spec.envs:
        task = resolve_task(env, spec.env_defs.get(env))
        for method in spec.methods:
            for hidden in spec.widths():
                D = task.native_dimension(hidden, spec.family)
                proj, why = explain_projection(D, d_top, task.is_population_method(method))
                net = task.network_label(hidden, spec.family)
                out.append((env, method, hidden, proj, f"{net}, D = {D:,}, largest d = {d_top:,}: {why}"))
    return out


def projection_notes(spec: SweepSpec, trials: list[TrialConfig], store: Store) -> list[str]:
    """One line for each experiment whose projection ``auto`` chose (which one and why), and one more
    where ``store`` holds that experiment's subspace trials under other projections only: the new
    trials are their own group (``compute_dint`` never pools projections), not a silent repeat."""
    choices = projection_choices(spec)
    if not choices:
        return []
    stored: dict[str, set[str]] = {}
    for row in store.rows(status=None):
        if not row.is_full:
            stored.setdefault(row.fingerprint, set()).add(row.projection)
    lines = []
    for env, method, hidden, proj, why in choices:
        lines.append(f"projection: auto chose {proj} for {env} {method} ({why})")
        fp = next((t.fingerprint() for t in trials
                   if (t.env, t.method, t.hidden) == (env, method, hidden) and not t.is_full), None)
        before = sorted(stored.get(fp, set()))
        if before and proj not in before:
            lines.append(f"projection: the store's {env} {method} subspace trials used {', '.join(before)}, "
                         f"not {proj}: these {proj} trials are a group of their own (never pooled with them; "
                         f"the full-space baseline is shared); --projection {before[0]} extends those instead")
    return lines
