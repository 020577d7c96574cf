"""Which adjustment a posterior gets (``adjust``: None, "auto", "sandwich"), applied with the
identifiability warnings of its table and centre: the last step of `sample`, `sample_many` and `laplace`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scalelab.bayes.sandwich import ADJUSTMENTS, MAX_SD_FACTOR, MIN_RUNS_PER_PARAM, min_runs, sandwich
from scalelab.laws.base import is_curve_law


def _check_adjust(adjust, groups):
    if adjust in (None, "none", "auto"):
        return
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"unknown adjust {adjust!r}; choose None, 'auto' or one of {ADJUSTMENTS}")
    if groups is not None:
        raise ValueError(f"adjust={adjust!r} is for i.i.d. models: use groups=None (see scalelab.bayes.sandwich)")


def resolve_adjust(adjust, law, likelihood: str, n_runs: int, groups=None) -> tuple[str | None, str]:
    """``(adjustment or None, why)`` for ``adjust`` in None/"none", "auto", "sandwich".

    A curve law gets none (its rows are checkpoints of a few runs, not i.i.d.), with a note saying so.
    ``"auto"``: the sandwich when the model is i.i.d. and the table has at least
    `scalelab.bayes.sandwich.min_runs` runs (20 per sampled parameter: 120 for chinchilla with
    the Huber likelihood), else none. Below that the scores' outer product is too noisy an
    estimate (40-run tables over-cover with it, RESULTS.md); above it the unadjusted posterior
    under-covers when the law misses structure (Epoch: beta's interval 0.5x the bootstrap's).
    """
    if adjust in (None, "none"):
        return None, ""
    if is_curve_law(law):  # a curve law: its rows are checkpoints of a few runs
        return None, (f"adjust={adjust}: no sandwich adjustment for the curve law {law.name!r}: its rows are "
                      f"checkpoints of a few runs, not independent draws, so their scores' outer product does not "
                      f"estimate the misfit; the posterior assumes the law is right")
    need = min_runs(law, likelihood)
    if adjust != "auto":
        if n_runs < need:
            return adjust, (f"adjust={adjust}: {n_runs} runs is below the {need} from which the sandwich holds; "
                            f"it is shrunk toward the unadjusted posterior (weight {n_runs}/{need}) and capped at "
                            f"{MAX_SD_FACTOR:g}x in standard deviation: read its intervals as rough")
        return adjust, ""
    if groups is not None:
        return None, "adjust=auto: no sandwich adjustment with group offsets (it is built for i.i.d. models)"
    if n_runs < need:
        return None, (f"adjust=auto: no sandwich adjustment on {n_runs} runs (it holds from {need}, "
                      f"{MIN_RUNS_PER_PARAM} per sampled parameter); the posterior assumes the law is right")
    return "sandwich", (f"adjust=auto: sandwich-adjusted ({n_runs} >= {need} runs), for misfit of the law "
                        f"that the i.i.d. likelihood does not see")


def _adjusted(post, table, adjust):
    """``post`` with the ``adjust`` adjustment applied (None: unchanged); ``seconds`` left to the caller."""
    return post if adjust is None else sandwich(post, table)


def _identify_warnings(table, law, theta) -> list[str]:
    """Identifiability warnings of the table and of the posterior's centre (`scalelab.fit.identify`)."""
    from scalelab.fit.identify import design_warnings, parameter_warnings

    med = np.median(np.asarray(theta), axis=0)
    return [*design_warnings(table, law.inputs, (law,)), *parameter_warnings(law, dict(zip(law.unconstrained_names, med)))]


def _finish(post, table, law, adjust, notes=()):
    """Adjust (``adjust`` as resolved by `resolve_adjust`) and attach warnings to ``post``."""
    kind, why = resolve_adjust(adjust, law, post.likelihood, len(table), post.groups or None)
    out = _adjusted(post, table, kind)
    extra = [*notes, *([why] if why else []), *_identify_warnings(table, law, post.theta)]
    return dataclasses.replace(out, warnings=tuple(dict.fromkeys([*post.warnings, *extra])))
