"""A law and its parameters as a user gives them: a name or `Law` with a dict of natural values, or a fit result
that holds both (`scalelab.fit.FitResult`: ``.law`` and ``.params``). One reading for every function that takes
them (`scalelab.allocate`, `scalelab.simulate`, the closed forms), so each says a mismatch the same way; and one
reading of saved natural values (`natural_params`: a saved fit, a posterior's summary, a curve fit given as a dict).
"""

from __future__ import annotations

from typing import Mapping

from scalelab import laws as _laws


def point_params(params, law) -> Mapping[str, float]:
    """A fit's parameter values: a mapping as it is, or the ``.params`` of a result that holds them (a `FitResult`),
    whose law must be ``law``.

    Raises:
      ValueError: the result is of another law. TypeError: ``params`` is neither.
    """
    if isinstance(params, Mapping):
        return params
    held, of = getattr(params, "params", None), getattr(params, "law", None)
    if isinstance(held, Mapping):
        if isinstance(of, _laws.Law) and of.name != law.name:
            raise ValueError(f"the parameters given are a fit of {of.name!r}, not of {law.name!r}")
        return held
    raise TypeError(f"params: expected a dict of {law.name}'s parameter values {law.params} (or a FitResult); got "
                    f"a {type(params).__name__}")


def held_fit(value) -> bool:
    """True for a result that holds its `Law` (``.law``) and a mapping of its natural parameters (``.params``): a
    `FitResult`. A `Posterior` holds draws (its ``.params`` is a method), so it is not one."""
    return isinstance(getattr(value, "law", None), _laws.Law) and isinstance(getattr(value, "params", None), Mapping)


def law_and_params(law, params=None):
    """``(Law, natural params)`` from a law (name or `Law`) and its parameters (a dict, or a `FitResult` of that
    law: `point_params`), or from a `FitResult` given as the law (``params`` None: its own; given: those, checked
    against its law).

    Raises:
      TypeError: no parameters given for a law named; ValueError: a fit of another law (`point_params`).
    """
    if held_fit(law):
        return law.law, (law.params if params is None else point_params(params, law.law))
    law = _laws.get(law)
    if params is None:
        raise TypeError(f"no parameters given for law {law.name!r}: give a dict of {list(law.params)}, or a FitResult")
    return law, point_params(params, law)


def natural_params(params: Mapping, law, label: str) -> dict:
    """``law``'s natural parameters, as floats in its order, from a ``{name: value}`` object (a value may be a
    ``bayes --json`` summary ``{"median": ..., ...}``: its median is read). Other keys are left out.

    Raises:
      ValueError: a parameter of the law missing, or one that is not a number; the message starts with ``label``.
    """
    params = {k: (v["median"] if isinstance(v, Mapping) else v) for k, v in params.items()}
    missing = [p for p in law.params if p not in params]
    if missing:
        raise ValueError(f"{label}: parameters {missing} missing for law {law.name!r}")
    try:
        return {k: float(params[k]) for k in law.params}
    except (TypeError, ValueError) as e:
        raise ValueError(f"{label}: a parameter is not a number ({e})") from None


__all__ = ["point_params", "held_fit", "law_and_params", "natural_params"]
