"""A saved fit read back: the JSON object of `FitResult.to_json` (``scalelab fit --json``), from a file or as a dict.

The one reader of that object: `FitResult.from_json` rebuilds the result from it, and the CLI's ``--from FIT.json``
(``predict``, ``allocate``, ``schedule``) reads its law and parameters through `read_fit_json` and
`scalelab.laws.given.natural_params`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from scalelab import laws as _laws
from scalelab.laws.given import natural_params

# The keys every `FitResult.to_json` object has written; the others (``fixed``, ``n_rows``, ``unconstrained``,
# ``n_starts``, ...) are read when present, so that a file saved before they were written still reads.
REQUIRED = ("law", "params", "objective", "objective_kind", "delta", "n_runs", "converged")


def read_fit_json(source, label: str | None = None) -> dict:
    """The object of a saved `scalelab fit --json` output (or a report's report.json, whose parameters are rows),
    from a path or as a dict, with its ``params`` as one ``{name: value}`` object.

    ``label`` starts every error message (default: the path, or ``"fit JSON"`` for a dict).

    Raises:
      FileNotFoundError: no such file.
      ValueError: a file that is not JSON, or an object without a ``params`` object.
    """
    if isinstance(source, Mapping):
        obj, label = dict(source), label or "fit JSON"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = label or str(path)
        if not path.is_file():
            raise FileNotFoundError(f"{label}: no such file")
        try:
            obj = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{label}: not the JSON of `scalelab fit --json` ({e})") from None
    else:
        raise TypeError(f"expected a path to a saved fit's JSON or its dict (FitResult.to_json()), got a "
                        f"{type(source).__name__}")
    rows = obj.get("params") if isinstance(obj, dict) else None
    if isinstance(rows, list) and all(isinstance(r, dict) and {"name", "value"} <= set(r) for r in rows):
        obj = {**obj, "params": {r["name"]: r["value"] for r in rows}}  # a report's report.json: one row per parameter
    if not isinstance(obj, dict) or not isinstance(obj.get("params"), dict):
        raise ValueError(f"{label}: no 'params' object; give a `scalelab fit --json` output (or a report's "
                         f"report.json)")
    return obj


def _number(v) -> float:
    """A JSON number, ``null`` read as NaN (strict JSON writes a non-finite number as null, `scalelab.jsonable`)."""
    return float("nan") if v is None else float(v)


def _unconstrained(obj, law, params) -> dict:
    """The saved unconstrained values when the object holds every one as a number, else computed from ``params``
    (in float64: the inverse transforms, `Law.to_unconstrained`)."""
    saved = obj.get("unconstrained")
    if isinstance(saved, Mapping) and set(law.unconstrained_names) <= set(saved) \
            and all(isinstance(saved[k], (int, float)) for k in law.unconstrained_names):
        return {k: float(saved[k]) for k in law.unconstrained_names}
    import jax

    with jax.enable_x64(True):
        return {k: float(v) for k, v in law.to_unconstrained({n: np.float64(x) for n, x in params.items()}).items()}


def fit_fields(source, law=None) -> dict:
    """The fields of a `FitResult` from a saved fit (see `FitResult.from_json`, which documents ``law``)."""
    from scalelab.fit.objectives import OBJECTIVES

    obj = read_fit_json(source)
    label = str(source) if isinstance(source, (str, os.PathLike)) else "fit JSON"
    missing = [k for k in REQUIRED if k not in obj]
    if missing:
        raise ValueError(f"{label}: not a saved fit: keys {missing} missing (it has {sorted(obj)}); give the object "
                         f"of FitResult.to_json() or a `scalelab fit --json` output")
    if any(isinstance(v, Mapping) for v in obj["params"].values()):
        raise ValueError(f"{label}: holds a posterior's summary (per-parameter medians and intervals), not a fit; "
                         f"save the posterior instead (Posterior.save, scalelab.bayes.load)")
    saved_law = obj["law"]
    if law is None:
        try:
            law = _laws.get(saved_law)
        except _laws.UnknownLawError as e:
            raise ValueError(f"{label}: {e.args[0]}; a fit of an unregistered Law reads back with "
                             f"from_json(..., law=LAW)") from None
    else:
        law = _laws.get(law)
        if saved_law != law.name and saved_law not in law.aliases:
            raise ValueError(f"{label}: holds a fit of law {saved_law!r}, not {law.name!r}")
    unknown = sorted(set(obj["params"]) - set(law.params))
    if unknown:
        raise ValueError(f"{label}: {unknown} are not parameters of law {law.name!r}, whose parameters are "
                         f"{list(law.params)}")
    params = natural_params(obj["params"], law, label)
    fixed = dict(obj.get("fixed") or {})
    if set(fixed) - set(law.params):
        raise ValueError(f"{label}: fixed {sorted(set(fixed) - set(law.params))} are not parameters of {law.name!r}")
    if obj["objective_kind"] not in OBJECTIVES:
        raise ValueError(f"{label}: objective_kind {obj['objective_kind']!r} is none of {OBJECTIVES}")
    count = lambda k, default=0: int(obj.get(k) if obj.get(k) is not None else default)  # noqa: E731
    return dict(
        law=law, params=params, unconstrained=_unconstrained(obj, law, params), objective=_number(obj["objective"]),
        converged=bool(obj["converged"]), best_start=count("best_start"), n_starts=count("n_starts"),
        n_iter=count("n_iter"), n_runs=count("n_runs"), objective_kind=str(obj["objective_kind"]),
        delta=_number(obj["delta"]), fixed={k: _number(v) for k, v in fixed.items()}, conventions=law.conventions,
        notes=tuple(obj.get("notes") or ()), seconds=_number(obj.get("seconds", 0.0)),
        compile_seconds=_number(obj.get("compile_seconds", 0.0)), method=str(obj.get("method", "multistart")),
        warnings=tuple(obj.get("warnings") or ()), n_rows=None if obj.get("n_rows") is None else count("n_rows"),
        span=obj.get("span"))


__all__ = ["read_fit_json", "fit_fields", "REQUIRED"]
