"""`scalelab.report`: one directory with an HTML page and the figures a scaling study is read from.

``report(runs, law="chinchilla", out="report")`` fits the law, bootstraps it (one compiled
`fit_many`) and writes ``out/index.html`` (opens from disk, no server), its PNG figures beside
it and ``out/report.json`` (the tables as numbers). Figures (see `scalelab.report.figures`):

(a) loss against compute, one curve per model size, fitted law and band, held-out largest runs
marked; (b) the compute-optimal frontier ``N_opt(C)``, ``D_opt(C)``, tokens per parameter with
bands, Approach 2 minima overlaid when the table has isoFLOP structure; (c) residuals against
``D/N`` and ``N``; (d) the influence of each run on the headline forecast (the loss at the
compute-optimal point of the largest budget in the table of allocations); (e) the law
comparison (extrapolation scores from `scalelab.compare`, and forecast weights when
`scalelab.forecast` is installed); (f) iso-loss contours in ``(N, D)`` with the frontier;
(g) for each input beyond ``N`` and ``D`` (experts ``E``, sparsity ``S``, ...), loss against it
at fixed ``N`` and ``D``. Figures that need inputs a law lacks (a frontier for a law without
``D``) are left out with a note.

Conventions: ``C = 6ND`` FLOPs for allocations (`scalelab.optimal.allocate`), losses in nats per
token; bands are equal-tailed percentile intervals over bootstrap refits (runs resampled with
replacement), at level ``ci``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from scalelab.callable_module import make_callable
from scalelab.jsonable import plain
from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.programs import float64, per_law
from scalelab.report import figures, html
from scalelab.report.bands import bootstrap_draws, frontier_draws
from scalelab.report.files import check_report_dir, check_writable
from scalelab.optimal.closed_form import compute_budgets


@dataclasses.dataclass
class Context:
    """What the figures read: the table, the law, point parameters and bootstrap draws."""

    table: _runs.RunTable
    law: object
    params: dict
    draws: dict | None
    band_method: str
    heldout: np.ndarray | None
    holdout_by: str
    extra: dict

    def col(self, name: str) -> np.ndarray:
        return self.table.column(name)

    @property
    def compute(self) -> np.ndarray:
        if "C" in self.table.columns:
            return self.col("C")
        return 6.0 * self.col("N") * self.col("D")

    @property
    def inputs(self) -> dict:
        return self.table.inputs(self.law.inputs)

    def held_inputs(self, rows, size: int) -> dict:
        """The law's inputs other than N and D at their median over ``rows`` (C: left to the caller)."""
        return {k: np.full(size, float(np.median(self.col(k)[rows]))) for k in self.law.inputs
                if k not in ("N", "D", "C")}

    def predict(self, params: Mapping, x: Mapping) -> np.ndarray:
        """Loss at inputs ``x`` (arrays ``[G]``); parameters may be arrays ``[B]`` -> ``[B, G]``."""
        batched = any(np.ndim(v) > 0 for v in params.values())
        p = {k: (np.asarray(v, float)[:, None] if batched else np.asarray(float(v))) for k, v in params.items()}
        x = dict(x)
        if "C" in self.law.inputs and "C" not in x:  # a law of compute: C = 6ND at the given N and D
            x["C"] = 6.0 * np.asarray(x["N"], float) * np.asarray(x["D"], float)
        xs = {k: np.asarray(x[k], float) for k in self.law.inputs}
        return np.asarray(_predict_program(self.law)(p, xs), float)


@per_law
def _predict_program(law):
    """``jit`` of the law's prediction: one compiled program per input shape instead of op-by-op dispatch."""
    import jax

    return jax.jit(law.predict)


def _budgets(C_max: float, n: int = 4) -> np.ndarray:
    """Round decades from the largest run's compute upwards: the budgets of the allocation table."""
    first = np.ceil(np.log10(C_max))
    return 10.0 ** (first + np.arange(n))


def _choose_auto(comparison, weights) -> str:
    if weights:
        return max(weights, key=weights.get)
    ok = [r for r in comparison["laws"] if r.get("status") == "ok"]
    if not ok:
        raise ValueError("law='auto': no candidate law could be fitted to these runs; name one with --law")
    return ok[0]["law"]


def _forecast_weights(table, at: dict, laws, ci: float):
    """``{law: weight}`` from `scalelab.forecast` when it is installed, else None (and why)."""
    try:
        from scalelab.forecast import forecast
    except ImportError:
        return None, "scalelab.forecast is not installed: the comparison shows extrapolation scores only"
    import pandas as pd

    try:
        out = forecast(table, pd.DataFrame([at]), laws=laws, ci=ci, progress=False)  # the report's own bar shows
    except Exception as err:  # the forecast is an optional panel; the report must still build
        return None, f"forecast weights unavailable: {err}"
    out = out.to_json() if hasattr(out, "to_json") else out  # a Forecast, or a stand-in's JSON object
    w = out.get("laws") if isinstance(out, dict) else None
    return ({k: float(v) for k, v in w.items()} if w else None), None


def _extra_values(table, law) -> dict:
    """Inputs beyond N and D, held at the table's most common value (for frontiers and contours)."""
    out = {}
    for k in law.inputs:
        if k in ("N", "D"):
            continue
        vals, counts = np.unique(table.column(k), return_counts=True)
        out[k] = float(vals[np.argmax(counts)])
    return out


@float64
def report(runs, law: str = "chinchilla", out="report", *, ci: float = 0.9, n_boot: int = 200,
           compare_laws: Sequence[str] | str | None = "auto", starts="auto", fixed: Mapping[str, float] | None = None,
           budgets=None, seed: int = 0, influence: bool = True, title: str | None = None,
           progress: bool | None = None, holdout_by: str | None = None) -> Path:
    """Write the report on ``runs`` to directory ``out``; returns the path of ``index.html``.

    Args:
      runs: path, DataFrame or `RunTable`.
      law: a loss law's name, or ``"auto"`` (the law `scalelab.forecast` weights highest when it
        is installed, else the one `scalelab.compare` ranks first on the held-out largest runs).
      out: output directory (created when the figures are written, so a report that fails leaves none). An earlier
        report's files there are replaced; a directory holding other files of those names (an ``index.html`` with
        no scalelab ``report.json`` beside it) is refused before any work and left untouched.
      ci: level of every band and interval.
      n_boot: bootstrap refits for the bands (0: point fit only).
      compare_laws: candidate laws for (e) and ``law="auto"``: ``"auto"`` (every loss law whose
        inputs the table has), a list, or None to skip the comparison.
      starts, fixed: the fit (as `scalelab.fit`, whose default ``"auto"`` it shares, so that the report's fit is the
        one `scalelab fit` gives); ``fixed`` also holds in every bootstrap refit.
      budgets: compute budgets (FLOPs) of the allocation table (default 4 round decades from the
        largest run's compute up).
      influence: draw (d) (one more compiled program).
      title: page title (default from the data source).
      holdout_by: the column whose largest value marks the runs held out, in the comparison (e) and in (a)
        (default ``N``, else ``C``; as `scalelab.compare`).
      progress: a bar over the report's steps on stderr (comparing laws, fitting, bootstrap, frontier, influence,
        figures; a report takes a minute): True always, None on a terminal only, False never.

    Raises:
      ValueError: ``out`` cannot be written or holds someone else's files, or the law cannot be fitted to these runs.
    """
    import scalelab
    from scalelab import compare as _compare
    from scalelab.laws.curves import refuse_curve_laws
    from scalelab.progress import Steps

    t0 = time.perf_counter()
    if law != "auto":
        refuse_curve_laws([law], "report")  # before anything is written
    elif compare_laws is None:  # it compared every law anyway, and drew the comparison it was told not to
        raise ValueError("law='auto' chooses the law by comparing the candidates, and compare_laws=None (--compare "
                         "none) asks for no comparison: name the law (--law NAME), or let the report compare")
    if budgets is not None:
        try:
            budgets = compute_budgets(np.atleast_1d(budgets))
        except (TypeError, ValueError) as err:
            raise ValueError(f"budgets: {err}; give the compute budgets of the allocation table in FLOPs, e.g. "
                             f"[1e22, 1e23]") from None
    out = Path(out)
    check_writable(out, "out")  # created only when the figures are written: a report that fails leaves none
    check_report_dir(out, "out")  # someone else's index.html or figures there are refused and left untouched
    table = _runs.read(runs).final_points()  # final-loss laws: a curve table's last checkpoints (or all, when those cannot serve)
    if "C" not in table.columns and not {"N", "D"} <= set(table.columns):
        raise ValueError(f"the report draws the runs' loss against their training compute (C = 6ND FLOPs), and these "
                         f"runs have neither C nor both N and D (columns {list(table.columns)}); add a tokens column "
                         f"D, or use `scalelab fit` and `scalelab compare`, which need only the law's inputs")
    if holdout_by is not None and holdout_by not in table.columns:
        raise ValueError(f"holdout_by={holdout_by!r} (--holdout-by) is not a column of the runs; columns are "
                         f"{table.columns} (default: N, else C)")
    warnings: list[str] = []  # what may be wrong; the table's notes (derived columns, renamed aliases) go apart
    C_table = table.column("C") if "C" in table.columns else None
    steps = Steps(2 + (compare_laws is not None or law == "auto") + bool(n_boot) + 1 + bool(influence), "report",
                  progress)

    # (e) first: law="auto" chooses from it
    comparison, weights = None, None
    if compare_laws is not None or law == "auto":
        names = None if compare_laws in (None, "auto") else compare_laws
        steps("comparing laws")
        comparison = _compare.compare(table, names, holdout_by=holdout_by, seed=seed,
                                      starts="auto" if starts == "grid" else starts,
                                      progress=False)  # the report's own bar names this step
        for r in comparison["laws"]:
            for note in r.get("notes", []):
                warnings.append(f"compare {r['law']}: {note}")
        warnings.extend(comparison["warnings"])
        weights, weights_note = _forecast_weights(table, _largest_run(table), "auto" if names is None else names, ci)
        if weights_note:
            warnings.append(weights_note)
    try:
        mask, by = _compare.holdout_mask(table, holdout_by)
        heldout = None if mask.all() else mask
    except _runs.RunTableError:
        heldout, by = None, holdout_by or "N"
    law_name = _choose_auto(comparison, weights) if law == "auto" else law
    chosen_by = None
    if law == "auto":
        n_held = (comparison or {}).get("holdout", {}).get("n", 0)
        chosen_by = (f"the law scalelab.forecast weighs highest ({weights[law_name]:.2f} of the weight, from its rolling "
                     f"origins' held-out errors)" if weights else
                     f"the law with the least extrapolation error on the {n_held} held-out run(s)")
    if comparison is not None and comparison.get("holdout", {}).get("warning"):
        warnings.append(f"compare: {comparison['holdout']['warning']}")
    law_obj = _laws.get(law_name)
    missing = [c for c in law_obj.inputs if c not in table.columns]
    if missing:
        raise ValueError(f"law {law_obj.name!r} needs column(s) {missing} that the runs do not have; "
                         f"choose a law whose inputs the table has (see `scalelab laws`)")
    has_nd = {"N", "D"} <= set(law_obj.inputs)
    extra = _extra_values(table, law_obj) if has_nd else {}
    budgets = np.asarray(budgets, float) if budgets is not None else _budgets(
        float((C_table if C_table is not None else 6 * table.column("N") * table.column("D")).max()))
    head_C = float(budgets[-1])
    head_target = "loss@C=" + f"{head_C:.6g}" + "".join(f",{k}={v:.6g}" for k, v in extra.items())

    steps(f"fitting {law_obj.name}")
    fit = scalelab.fit(table, law_obj, starts=starts, seed=seed, fixed=fixed)  # its warnings are added below
    draws, n_bad = (None, 0)
    if n_boot:
        steps(f"bootstrap, {n_boot} refits")
        draws, n_bad = bootstrap_draws(table, law_obj, n_boot, seed, fixed, fit)
        if n_bad:
            warnings.append(f"{n_bad} of {n_boot} bootstrap refits did not converge (kept in the bands)")
    ctx = Context(table, law_obj, dict(fit.params), draws, f"bootstrap, {n_boot} refits" if n_boot else "no band",
                  heldout, by, extra)
    q = 50 * (1 - ci)
    param_rows = []
    for k, v in fit.params.items():
        lo, hi = (np.nanpercentile(draws[k], [q, 100 - q]) if draws is not None else (np.nan, np.nan))
        param_rows.append({"name": k, "value": float(v), "lo": float(lo), "hi": float(hi),
                           "fixed": bool(fixed and k in fixed)})
    warnings.extend(w for w in fit.warnings if w not in warnings)  # convergence, identifiability, outlying runs

    figs, skipped = {}, []
    figs["a_loss_vs_compute.png"] = figures.loss_vs_compute(ctx, ci)
    alloc_rows, iso, point = [], None, None
    if has_nd:
        from scalelab.optimal import allocate, allocation_warnings

        try:
            point = allocate(law_obj.name, fit.params, budgets, extra or None)
            warnings.extend(allocation_warnings(point["C"], point["N_opt"], point["D_opt"]))  # a split no run could be
        except ValueError as err:  # an exponent <= 0 (a design that cannot pin them down): no optimum to show
            warnings.append(f"no compute-optimal allocation: {err}")
    if point is not None:
        steps("frontier and isoFLOP")
        Cmin = float((C_table if C_table is not None else ctx.compute).min())
        Cgrid = np.geomspace(Cmin, head_C * 10, 50)
        both = frontier_draws(law_obj, draws, np.concatenate([budgets, Cgrid]), extra) if draws is not None else None
        bd = None if both is None else {k: v[:, :len(budgets)] for k, v in both.items()}
        gd = None if both is None else {k: v[:, len(budgets):] for k, v in both.items()}
        for i, c in enumerate(budgets):
            row = {"C": float(c)}
            for key in ("N_opt", "D_opt", "tokens_per_param", "loss"):
                row[key] = float(np.atleast_1d(point[key])[i])
                if bd is not None:
                    lo, hi = np.nanpercentile(bd[key][:, i], [q, 100 - q])
                    row[f"{key}_lo"], row[f"{key}_hi"] = float(lo), float(hi)
            alloc_rows.append(row)
        fr = {"C": Cgrid, **{k: np.atleast_1d(v) for k, v in allocate(law_obj.name, fit.params, Cgrid, extra or None).items()
                             if k != "C"}}
        if gd is not None:
            for key in ("N_opt", "D_opt", "tokens_per_param"):
                fr[f"{key}_lo"], fr[f"{key}_hi"] = np.nanpercentile(gd[key], [q, 100 - q], axis=0)
        try:
            from scalelab.optimal.isoflop import IsoFLOPError, isoflop

            # Approach 2 on the runs at the held values of other inputs (e.g. the dense runs of an MoE table)
            same = np.ones(len(table), bool)
            for k, v in extra.items():
                same &= np.isclose(table.column(k), v)
            try:
                iso = isoflop(table.select(same), approach3=None, ci=ci, seed=seed)
                if iso.methods[iso.method]["n_budgets"] < 3:
                    skipped.append(f"no Approach 2 overlay: only {iso.methods[iso.method]['n_budgets']} budgets have a "
                                   f"bracketed minimum (3 or more make an isoFLOP structure)")
                    iso = None
                else:
                    warnings.extend(f"isoFLOP: {w}" for w in iso.warnings)
            except IsoFLOPError as err:
                iso = None
                skipped.append(f"no Approach 2 overlay: {err}")
        except ImportError:
            iso = None
        figs["b_frontier.png"] = figures.frontier(ctx, fr, iso, ci)
        figs["f_isoloss.png"] = figures.isoloss(ctx, fr)
        if iso is not None:
            figs["isoflop.png"] = figures.isoflop_profiles(iso)
    elif has_nd:
        skipped.append("the fit gives no finite compute-optimal split: no frontier (b), allocation table or iso-loss "
                       "contours (f)")
    else:
        skipped.append(f"law {law_obj.name!r} does not take N and D: no compute-optimal frontier (b), allocation "
                       f"table or iso-loss contours (f)")
    if "D" in table.columns and "N" in table.columns:
        figs["c_residuals.png"] = figures.residuals(ctx)
    infl = None
    if influence and has_nd:
        from scalelab.design import influence as _influence

        steps("influence")
        try:
            infl = _influence(table, law_obj, head_target, starts=starts, fixed=fixed)
            figs["d_influence.png"] = figures.influence(ctx, infl)
        except (ValueError, _runs.RunTableError) as err:
            skipped.append(f"no influence figure: {err}")
    if comparison is not None:
        figs["e_law_comparison.png"] = figures.law_comparison(
            comparison["laws"], weights, "forecast weights and extrapolation scores" if weights else
            f"extrapolation to the {comparison['holdout'].get('n', 0)} held-out runs with the largest "
            f"{comparison['holdout'].get('by')}")
    for k in law_obj.inputs:
        if k not in ("N", "D", "C"):
            figs[f"g_loss_vs_{k}.png"] = figures.extra_input(ctx, k, ci)

    steps("figures")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot write the report to {str(out)!r}: {err.strerror or err}; "
                         f"choose a writable directory with --out") from None
    sizes = {}
    for name, fig in figs.items():
        figures.save(fig, out / name)
        sizes[name] = figures.pixel_size(fig)
    summary = {
        "source": table.source, "n_runs": len(table), "law": law_obj.name, "requested_law": law,
        "ci": ci, "band": ctx.band_method, "holdout_by": by, "params": param_rows, "objective": float(fit.objective),
        "converged": bool(fit.converged), "allocation": alloc_rows, "extra_held": extra,
        "headline": {"target": head_target, "value": float(infl.value) if infl is not None else
                     (alloc_rows[-1]["loss"] if alloc_rows else None)},
        "chosen_by": chosen_by,
        "influence_top": [] if infl is None else infl.to_json()["runs"][:10],
        "comparison": None if comparison is None else [
            {k: r.get(k) for k in ("law", "status", "reason", "extrapolation_are", "aic", "bic", "n_params")}
            for r in comparison["laws"]],
        "weights": weights,
        "isoflop": None if iso is None else {k: v for k, v in iso.to_json().items() if k != "methods"},
        "figures": {k: list(v) for k, v in sizes.items()}, "notes": list(table.notes), "warnings": warnings,
        "skipped": skipped,
        "seconds": time.perf_counter() - t0,
    }
    # strict JSON: NumPy values as Python's, a number that is not finite (no bootstrap, no interval) null
    (out / "report.json").write_text(json.dumps(plain(summary), indent=1, allow_nan=False))
    name = "" if str(table.source).startswith("<") else f": {Path(str(table.source)).name}"
    page = html.page(summary, title or f"scalelab report{name}")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    steps.close()
    return path


def _largest_run(table) -> dict:
    """The inputs (no loss) of the run with the largest N: the point the forecast panel weighs laws at."""
    i = int(np.argmax(table.column("N"))) if "N" in table.columns else 0
    row = table.df.iloc[i]
    return {k: float(row[k]) for k in table.columns if k in _runs.NUMERIC and k != "loss"}


__all__ = ["report", "Context", "figures", "html"]


make_callable(__name__)  # scalelab.report(...) calls report(...)
