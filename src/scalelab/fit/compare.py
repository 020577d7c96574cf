"""Model comparison: fit several laws to one run table and score them side by side.

For every law whose input columns the table has, `compare` reports

* ``objective``: the in-sample summed Huber(delta) of log-loss residuals (the fit's own objective);
* ``aic`` and ``bic``: information criteria from a Gaussian approximation on the log-loss
  residuals at the fitted parameters, ``n log(RSS/n) + 2k`` and ``n log(RSS/n) + k log n``
  with ``k`` free parameters (the Huber fit is robust, the criteria are the usual
  least-squares ones: use them to rank laws of different sizes, not as likelihoods);
* ``extrapolation_are``: mean absolute relative error ``|L_pred - L| / L`` on the held-out
  largest runs when the law is fitted on the rest (the Hitchhiker's Guide metric,
  Choshen et al. 2025), and its maximum ``extrapolation_max_re``.

The hold-out split is the same for every law: the rows whose ``holdout_by`` column (default
``N``, else ``C``) equals its largest value (the largest model). The train-only fit reuses the
full fit's compiled program by giving the held-out rows weight 0.

Laws whose inputs are missing, or which predict something other than the loss
(hyper-parameter laws), are skipped with a reason; nothing fails for a missing column.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.fit.api import fit as _fit
from scalelab.progress import bar
from scalelab.laws.base import is_curve_law
from scalelab.laws.curves import refuse_curve_laws
from scalelab.programs import float64


def holdout_mask(table: _runs.RunTable, by: str | None = None) -> tuple[np.ndarray, str]:
    """Boolean mask of the held-out (largest) runs and the column used."""
    if by is None:
        by = "N" if "N" in table.columns else ("C" if "C" in table.columns else None)
    if by is None or by not in table.columns:
        raise _runs.RunTableError(f"cannot choose the largest runs: column {by or 'N/C'!r} missing; "
                                  f"columns are {table.columns}")
    v = table.column(by)
    return np.isclose(v, v.max(), rtol=1e-9), by


def _skip(name, reason):
    return {"law": name, "status": "skipped", "reason": reason}


@float64
def compare_one(table: _runs.RunTable, law, *, mask=None, objective="huber", delta=1e-3, starts="auto",
                seed=0) -> dict:
    """Fit ``law`` on all runs and on the non-held-out runs; return its scores (a plain dict)."""
    law = _laws.get(law)
    if law.target != "loss":
        return _skip(law.name, f"predicts {law.target!r}, not the loss (a hyper-parameter law)")
    if is_curve_law(law):
        return _skip(law.name, "a learning-curve law (whole curves over an LR schedule); score it with "
                               "scalelab.curves.relative_errors on held-out schedules")
    missing = [c for c in law.inputs if c not in table.columns]
    if missing:
        return _skip(law.name, f"needs column(s) {missing} that the runs do not have")
    n, k = len(table), law.n_params
    if n <= k:
        return _skip(law.name, f"{n} runs cannot determine its {k} parameters")
    points = len(table.df[list(law.inputs)].drop_duplicates())
    if points <= k:  # runs that differ only in inputs the law does not read are one point of its curve
        return _skip(law.name, f"the {n} runs sit at only {points} distinct ({', '.join(law.inputs)}) points, "
                               f"which cannot determine its {k} parameters")
    notes = [f"input {c!r} is constant in these runs: parameters tied to it are not identified"
             for c in law.inputs if np.ptp(table.column(c)) == 0]
    full = _fit(table, law, objective=objective, delta=delta, starts=starts, seed=seed)
    y = table.column("loss")
    x = table.inputs(law.inputs)
    pred = np.asarray(law(full.params, **x), float)
    r = np.log(pred) - np.log(y)
    rss = float(np.sum(r ** 2))
    out = {
        "law": law.name, "status": "ok", "n_params": k, "n_runs": n,
        "objective": float(full.objective), "converged": bool(full.converged),
        "aic": float(n * np.log(rss / n) + 2 * k), "bic": float(n * np.log(rss / n) + k * np.log(n)),
        # Hurvich & Tsai's small-sample AIC: a law with nearly as many parameters as runs is not rewarded for
        # interpolating them (None where n <= k + 1: no finite correction)
        "aicc": (float(n * np.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)) if n > k + 1 else None),
        "rmse_log": float(np.sqrt(rss / n)), "params": {p: float(v) for p, v in full.params.items()},
        "conventions": law.conventions, "notes": notes,
    }
    if not full.converged:
        notes.append("its fit to every run did not converge: the objective and AIC/BIC may not be its optimum's")
    if mask is not None and mask.any():
        n_train = int((~mask).sum())
        if n_train <= k:
            out["extrapolation_are"] = None
            out["notes"].append(f"only {n_train} runs below the largest: too few to fit {k} parameters")
        else:
            part = _fit(table, law, objective=objective, delta=delta, starts=starts, seed=seed,
                                weights=(~mask).astype(float))
            p_out = np.asarray(law(part.params, **{c: v[mask] for c, v in x.items()}), float)
            re = np.abs(p_out - y[mask]) / y[mask]
            out.update(extrapolation_are=float(re.mean()), extrapolation_max_re=float(re.max()),
                       n_holdout=int(mask.sum()), train_params={p: float(v) for p, v in part.params.items()},
                       train_converged=bool(part.converged))
            if not part.converged:
                notes.append("its fit to the runs below the largest did not converge: the extrapolation error may "
                             "not be its optimum's")
    return out


@float64
def compare(runs, law_names: Sequence[str] | str | None = None, *, holdout_by: str | None = None,
            objective: str = "huber", delta: float = 1e-3, starts="auto", seed: int = 0,
            progress: bool | None = None) -> dict:
    """Fit several laws to ``runs`` and score each (see the module docstring).

    Args:
      runs: path, DataFrame or `RunTable`.
      law_names: names (list or comma-separated), a `Law` or a list of Laws; ``None`` or ``"all"``: every registered
        loss law. An unknown name is refused (`UnknownLawError`, naming the nearest), as ``scalelab compare --laws``
        and `scalelab.fit` refuse it; a law the runs cannot serve (an input they lack) is skipped with its reason. An
        empty list gives the hold-out split alone.
      holdout_by: column whose largest value marks the held-out runs (default ``N``, else ``C``); a column the runs
        lack is refused.
      objective, delta: as in `scalelab.fit`.
      starts: as in `scalelab.fit`, whose default (``"auto"``: variable-projection screening for laws with linear
        parameters) it shares, so that each law's fit to every run is the one ``scalelab fit`` gives.
      progress: a bar over the laws on stderr (`scalelab.progress`: True always, None on a terminal only, False
        never); each law is two fits, and every law of a cold process compiles.

    Returns:
      ``{"n_runs", "holdout": {"by", "value", "n"}, "laws": [per-law dicts], "warnings": [str]}``, laws
      ranked by extrapolation error (skipped laws last, with their reasons); ``warnings`` say what the runs'
      design leaves undetermined for the laws fitted (`fit.identify.design_warnings`: D a function of N, a
      short lever arm, several families, a curve's checkpoints read as runs), as `scalelab.fit` says it.
    """
    table = _runs.read(runs).final_points()  # every law compared is a final-loss law: a curve table's last checkpoints (or all)
    if law_names is None or law_names == "all":
        asked = [l for l in _laws.all_laws() if l.target == "loss"]
    else:
        asked = _laws.listed(law_names)  # [] scores no law: the result holds the hold-out split alone
    # a law named twice is compared once; a Law object is compared as given (a user's law need not be registered)
    asked = list({(x.name if isinstance(x, _laws.Law) else x): x for x in asked}.items())
    for _, x in asked:  # a misspelt name is refused before any fit (it was skipped, easy to miss in a ranking)
        _laws.get(x)
    refuse_curve_laws([x for _, x in asked], "compare")
    if holdout_by is not None and holdout_by not in table.columns:
        raise ValueError(f"compare: holdout_by={holdout_by!r} is not a column of the runs; columns are "
                         f"{table.columns} (default: N, else C)")
    try:
        mask, by = holdout_mask(table, holdout_by)
        holdout = {"by": by, "value": float(table.column(by)[mask][0]), "n": int(mask.sum())}
        if mask.all():
            mask, holdout["note"] = None, f"every run has the same {by}: no extrapolation split"
        elif mask.sum() < 3:
            holdout["warning"] = (f"the extrapolation error rests on {int(mask.sum())} held-out run(s) (those with "
                                  f"the largest {by}): a ranking by it is anecdotal; compare AIC/BIC too, or hold "
                                  f"out a column with more runs at its largest value (--holdout-by)")
    except _runs.RunTableError as err:
        mask, holdout = None, {"by": holdout_by, "note": str(err)}

    def one(name, item):
        """``(row, Law or None)``: one law's comparison, or why it was skipped."""
        try:
            law = _laws.get(item)
        except KeyError as err:
            return _skip(name, str(err.args[0])), None
        try:
            return compare_one(table, law, mask=mask, objective=objective, delta=delta, starts=starts, seed=seed), law
        except (ValueError, _runs.RunTableError) as err:  # e.g. the runs below the split cannot determine this law
            return _skip(name, str(err)), None

    rows, fitted = [], {}
    with bar(len(asked), "compare", "law", progress) as shown:
        for name, item in asked:  # laws of different forms: one compiled program each
            shown.set_postfix_str(name)
            row, law = one(name, item)
            rows.append(row)
            if law is not None:
                fitted[name] = law
            shown.update(1)

    def rank(r):
        if r["status"] != "ok":
            return (2, 0.0)
        e = r.get("extrapolation_are")
        return (0, e) if e is not None else (1, r["bic"])

    rows.sort(key=rank)
    from scalelab.fit.identify import design_warnings

    ok = [fitted[r["law"]] for r in rows if r["status"] == "ok"]
    inputs = sorted({c for law in ok for c in law.inputs})
    return {"source": table.source, "n_runs": len(table), "holdout": holdout, "objective": objective,
            "delta": delta, "laws": rows, "warnings": design_warnings(table, inputs, ok) if inputs else []}


__all__ = ["compare", "compare_one", "holdout_mask"]
