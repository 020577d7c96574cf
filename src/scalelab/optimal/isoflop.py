"""Approach 2 (Hoffmann et al. 2022, Sec. 3.2): compute-optimal sizes from isoFLOP profiles.

Runs are grouped by training compute (the ``C`` column when the table has one, else
``C = 6 N D`` FLOPs, N the table's parameter count, D tokens). Sorted by ``C``, a budget
starts at its smallest run and takes every run within a factor ``1 + tolerance`` of it; its
value is the geometric mean of its runs' ``C``. Runs of one budget whose ``N`` differ by less
than 2% are one model size: their ln N and ln loss are averaged.

For every budget the loss is modelled against ``x = ln N`` (natural log), on ``y = ln loss``,
by three methods, all reported:

* ``parabola``: least-squares quadratic in ``x`` over the budget's runs; its vertex is
  ``N_opt`` (Hoffmann's Approach 2). An isoFLOP profile of ``E + A/N^alpha + B/D^beta`` is not
  symmetric in ``ln N`` unless ``alpha = beta``, so the vertex of a parabola fitted to runs
  placed off-centre is pulled towards the side with more runs (benchmarks/isoflop_bias.py);
* ``cubic``: least-squares cubic in ``x``; its local minimum (the asymmetry's first-order term
  removes most of that bias);
* ``akima``: Akima's (1970) piecewise cubic through the points, minimised exactly on each
  piece (Porian et al. 2024, arXiv 2406.19146, interpolate the isoFLOP curve this way; the
  default method, and the one that reproduces their published exponents).

``D_opt`` is tokens: ``C / (6 N_opt)`` at the budget's ``C``, divided by the runs' own ``C / (6 N D)`` at ``N_opt``
(interpolated in ``ln N`` over the budget's sizes; exactly 1 when ``C`` or ``D`` is derived from the other). A ``C``
counted another way (``2 N D``, the forward pass only; with attention FLOPs; ``6 N_active D`` beside a total ``N``)
thus still gives the runs' tokens, not a ``D_opt`` 3x too small, and a ``C`` far from ``6 N D`` is warned about
(`scalelab.runs.amounts.compute_mismatch`); the budgets keep the table's ``C``.

A budget whose lowest-loss run is its smallest or largest model has no bracketed minimum: it is
warned about and left out of the power-law fits. ``N_opt ~ C^a`` and ``D_opt ~ C^b`` are ordinary
least squares on ``ln`` values over the bracketed budgets (``b = 1 - a`` when ``C / (6 N D)`` is
one constant), with percentile intervals from a bootstrap that resamples whole budgets (isoFLOP
profiles) with replacement.

Approach 3, for comparison: the table's fit of a loss law (default Chinchilla), its
frontier's exponents over the same budgets and their intervals from a bootstrap of the fit
(`scalelab.fit.many.fit_many`); a warning when Approach 2's and Approach 3's intervals for
``a`` do not overlap.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.optimal.isoflop_checks import isoflop_notes, merged_budgets, resamples
from scalelab.optimal.profiles import (DEFAULT_METHOD, DEFAULT_TOLERANCE, METHODS, MIN_SIZES, SIZE_TOLERANCE,  # noqa: F401
                                       _slopes, akima_eval, akima_slopes, curve,
                                       group_budgets, minimum, power_law)
from scalelab.programs import float64
from scalelab.runs.amounts import C_FACTOR
from scalelab.jsonable import plain
from scalelab.levels import check_ci

class IsoFLOPError(_runs.RunTableError):
    """The table has no usable isoFLOP structure (the message names the cause and a fix)."""


# --- grouping ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IsoFLOP:
    """What `isoflop` returns. Plain values only.

    Attributes:
      budgets: ``[K]`` budget values (FLOPs), ascending.
      method: the headline method (``a``, ``N_opt`` ... are its).
      N_opt, D_opt: ``[K]`` headline optimum per budget (parameters, tokens as the runs' D counts them: see the
        module doc); NaN where the minimum is not bracketed.
      a, a_interval, b, b_interval: exponents of ``N_opt ~ C^a``, ``D_opt ~ C^b`` and their
        ``ci`` bootstrap intervals (headline method).
      methods: ``{method: {"N_opt", "D_opt", "loss_opt", "a", "a_interval", "b", "b_interval"}}``.
      sizes: ``[K]`` distinct model sizes per budget.
      bracketed: ``[K]`` whether each budget's lowest-loss run has larger and smaller runs beside it.
      points: the runs used: ``budget`` (index), ``C_budget``, ``C``, ``N``, ``loss``, ``size`` (index within the
        budget) and ``C_per_6ND`` (the run's ``C / (6 N D)``; 1 where C or D is derived).
      approach3: the law-fit comparison (see `isoflop`), or None.
      warnings: every warning, as sentences.
      tolerance, ci: as given.
      notes: the run table's notes (`RunTable.notes`: columns derived, repeated rows, runs alike in
        every input whose losses differ, as when two ladders are mixed), as they hold for isoflop (a repeated row is
        averaged with its copy: `isoflop_checks.isoflop_notes`).
    """

    budgets: np.ndarray
    method: str
    N_opt: np.ndarray
    D_opt: np.ndarray
    a: float
    a_interval: list
    b: float
    b_interval: list
    methods: dict
    sizes: np.ndarray
    bracketed: np.ndarray
    points: pd.DataFrame
    approach3: dict | None
    warnings: tuple
    tolerance: float
    ci: float
    notes: tuple = ()

    def to_json(self) -> dict:
        """The stable object of ``scalelab isoflop --json`` (NaN written as null: `scalelab.jsonable.plain`)."""
        return plain({
            "budgets": self.budgets, "method": self.method, "tolerance": self.tolerance, "ci": self.ci,
            "N_opt": self.N_opt, "D_opt": self.D_opt, "a": self.a, "a_interval": self.a_interval,
            "b": self.b, "b_interval": self.b_interval, "sizes": self.sizes, "bracketed": self.bracketed,
            "methods": self.methods, "approach3": self.approach3, "warnings": list(self.warnings),
            "notes": list(self.notes),
        })

    def profile(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ln N, ln loss)`` of budget ``k``'s model sizes, ascending (runs of one size averaged)."""
        return _profile(self.points, k)


def _profiles(table: _runs.RunTable, tolerance: float):
    table.require(("N", "loss"))
    N, L = table.column("N"), table.column("loss")
    if "C" in table.columns:  # the table's, or derived by it (6 N D; 6 N_active D for a MoE run)
        C, c_note = table.column("C"), "C = 6ND" if "C" in table.derived else "the table's C column"
    else:
        table.require(("D",))
        C, c_note = 6.0 * N * table.column("D"), "C = 6ND"
    # the runs' own tokens per FLOP (D_opt is read in tokens): 1 where C or D is derived from the other
    own = "C" not in table.derived and "D" in table.columns and "D" not in table.invalid and "D" not in table.derived
    ratio = C / (6.0 * N * table.column("D")) if own else np.ones_like(C)
    labels, budgets = group_budgets(C, tolerance)
    points = pd.DataFrame({"budget": labels, "C_budget": budgets[labels], "C": C, "N": N, "loss": L,
                           "C_per_6ND": ratio})
    # Model sizes within SIZE_TOLERANCE of each other in one budget are one size (digitised or rounded
    # counts): knots a hair apart would give the interpolant absurd slopes.
    size = np.empty(len(points), int)
    for k in range(len(budgets)):  # ragged groups of data
        idx = np.flatnonzero(labels == k)
        idx = idx[np.argsort(N[idx], kind="stable")]
        grp = np.concatenate([[0], np.cumsum(np.diff(np.log(N[idx])) > np.log1p(SIZE_TOLERANCE))])
        size[idx] = grp
    points["size"] = size
    return points, budgets, c_note


@float64
def isoflop(runs, *, method: str = DEFAULT_METHOD, tolerance: float = DEFAULT_TOLERANCE, ci: float = 0.9,
            n_boot: int = 1000, seed: int = 0, min_sizes: int = MIN_SIZES, approach3: str | None = "chinchilla",
            n_boot_law: int = 100, law_starts="grid") -> IsoFLOP:
    """Approach 2 on ``runs`` (see the module doc for the method).

    Args:
      runs: path, DataFrame or `RunTable` with ``N`` (parameters), ``loss`` (nats/token) and
        ``C`` (FLOPs) or ``D`` (tokens; then ``C = 6ND``).
      method: headline method, one of ``parabola``, ``cubic``, ``akima``; all three are reported.
      tolerance: runs within a factor ``1 + tolerance`` in ``C`` share a budget (a fraction: 0.1 for 10%); one that
        merges separate profiles into a budget is warned about (`isoflop_checks.merged_budgets`).
      ci: level of the bootstrap intervals.
      n_boot: budget resamples for the intervals of ``a`` and ``b``: 0 for none; from 1 to 19 (too few for the
        ends of a percentile interval: `isoflop_checks.MIN_RESAMPLES`) none either, with a warning.
      min_sizes: budgets with fewer distinct model sizes are left out (with a warning).
      approach3: law whose fitted frontier is compared (a name), or None to skip the fit.
      n_boot_law: bootstrap refits of that law (one compiled `fit_many`); as ``n_boot``, under 20 gives no interval
        and no verdict of agreement.
      law_starts: the law fit's starts (as `scalelab.fit`).

    Returns:
      `IsoFLOP`.

    Raises:
      IsoFLOPError: fewer than two budgets with ``min_sizes`` model sizes.
      ValueError: an unknown method, a ``ci`` outside (0, 1), or ``n_boot`` / ``n_boot_law`` no whole number >= 0
        (in the words of the CLI's ``--bootstrap``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    check_ci(ci)
    n_boot, few = resamples(n_boot, "n_boot", "--bootstrap", "budget resamples for the intervals of a and b", ci)
    n_boot_law, few_law = resamples(n_boot_law, "n_boot_law", "--law-bootstrap", "bootstrap refits of the Approach 3 "
                                    "law", ci)
    table = _runs.read(runs).final()  # Approach 2 reads final losses: a curve table's last checkpoints
    points, budgets, c_note = _profiles(table, tolerance)
    from scalelab.fit.identify import family_warnings, unit_warnings

    # N in millions moves every optimum by that factor; a C far from 6 N D is said (D_opt is read from the runs' D)
    warnings = few + (few_law if approach3 else []) + unit_warnings(table)
    typical = float(np.exp(np.median(np.log(points["C_per_6ND"].to_numpy(float)))))
    if abs(np.log(typical)) > np.log(C_FACTOR):  # said with the mismatch: what it does to D_opt
        warnings.append(f"D_opt is read from the runs' own D ({1 / typical:.3g} times C / (6 N_opt) here), not from "
                        f"C / (6 N_opt): the budgets keep the table's C, the tokens are the runs'")
    # two ladders in one profile zig-zag between them: the one check `fit` makes too
    warnings += family_warnings(table, ("N", "C"), pooled="isoflop pools them into one isoFLOP profile per budget",
                                fix="run isoflop for each family")
    warnings += merged_budgets(points, budgets, tolerance, min_sizes)
    sizes = np.array([points.loc[points["budget"] == k, "size"].nunique() for k in range(len(budgets))])
    usable = sizes >= min_sizes
    if usable.sum() < 2:
        few = ", ".join(f"C={budgets[k]:.3g} ({sizes[k]} size{'s' if sizes[k] != 1 else ''})"
                        for k in range(len(budgets)))
        if len(budgets) == 1:
            cause = f"all runs share one compute budget ({few}; {c_note}, tolerance {tolerance:g})"
        else:
            cause = (f"only {int(usable.sum())} of {len(budgets)} compute budgets have at least {min_sizes} model "
                     f"sizes ({few if len(budgets) <= 12 else str(len(budgets)) + ' budgets'}; {c_note}, "
                     f"tolerance {tolerance:g})")
        raise IsoFLOPError(f"Approach 2 needs at least 2 compute budgets with >= {min_sizes} model sizes each, "
                           f"to place a minimum per budget and fit N_opt ~ C^a: {cause}. Train >= {min_sizes} "
                           f"model sizes at each of >= 2 budgets, or widen --tolerance if nearby C should be one budget")
    thin = np.flatnonzero(~usable)
    if thin.size:
        warnings.append(f"{thin.size} of {len(budgets)} budgets have fewer than {min_sizes} model sizes and are left out: "
                        + _listing(budgets[thin], sizes[thin], "size(s)"))
    K = len(budgets)
    bracketed = np.zeros(K, bool)
    per = {m: {"N_opt": np.full(K, np.nan), "loss_opt": np.full(K, np.nan), "ln_r": np.zeros(K)} for m in METHODS}
    edge = {"smallest": [], "largest": []}
    for k in np.flatnonzero(usable):  # budgets are ragged groups of data; each method is vectorised
        x, y, ln_r = _profile(points, k, ratio=True)
        j = int(np.argmin(y))
        bracketed[k] = 0 < j < x.size - 1
        if not bracketed[k]:
            edge["smallest" if j == 0 else "largest"].append(k)
            continue
        for m in METHODS:
            u = minimum(x, y[None], m)[0]
            if not np.isfinite(u):
                warnings.append(f"budget C={budgets[k]:.3g}: the {m} fit has no minimum inside the sampled sizes")
                continue
            per[m]["N_opt"][k] = np.exp(u)
            per[m]["ln_r"][k] = np.interp(u, x, ln_r)  # the runs' C / (6 N D) at N_opt
            per[m]["loss_opt"][k] = float(np.exp(curve(x, y, m, [u])[0]))
    for side, ks in edge.items():
        if ks:
            warnings.append(f"{len(ks)} budget(s) have their lowest loss at the {side} model, so their minimum is not "
                            f"bracketed by runs on both sides and they are left out of the power-law fits (train a "
                            f"{'smaller' if side == 'smallest' else 'larger'} model there): "
                            + _listing(budgets[ks], np.exp([_profile(points, k)[0].min() if side == 'smallest' else
                                                            _profile(points, k)[0].max() for k in ks]), "", "N="))
    methods = {}
    for m in METHODS:
        N_opt = per[m]["N_opt"]
        D_opt = budgets / (6.0 * N_opt * np.exp(per[m]["ln_r"]))  # tokens, as the runs count them
        pa = power_law(budgets, N_opt, n_boot, ci, seed)
        pb = power_law(budgets, D_opt, n_boot, ci, seed)
        methods[m] = {"N_opt": N_opt, "D_opt": D_opt, "loss_opt": per[m]["loss_opt"], "a": pa["a"],
                      "a_interval": pa["a_interval"], "b": pb["a"], "b_interval": pb["a_interval"],
                      "n_budgets": pa["n_budgets"]}
    head = methods[method]
    if head["n_budgets"] < 2:
        raise IsoFLOPError(f"only {head['n_budgets']} budget(s) have a bracketed minimum ({method}); Approach 2 needs "
                           f"2 or more: add runs on both sides of each budget's lowest loss")
    if head["n_budgets"] == 2:  # `power_law` gives no interval: two budgets fix the line exactly
        warnings.append("the exponents rest on 2 budgets, which fix them exactly: no interval (resampling two budgets "
                        "cannot say how uncertain they are), nor a verdict against Approach 3; add a budget")
    elif head["n_budgets"] < 4:
        warnings.append(f"the exponents rest on {head['n_budgets']} budgets; intervals from resampling so few budgets "
                        f"are unreliable")
    spread = {m: methods[m]["a"] for m in METHODS if np.isfinite(methods[m]["a"])}
    if spread and max(spread.values()) - min(spread.values()) > 0.05:
        warnings.append("the methods disagree on a by more than 0.05 (" + ", ".join(f"{m} {v:.3f}" for m, v in spread.items())
                        + "): the isoFLOP profiles are asymmetric or off-centre (the parabola is biased then) or the losses "
                        "noisy against the profiles' curvature (Akima follows the noise; the parabola and cubic smooth it)")
    a3 = None
    if approach3:
        a3 = approach3_frontier(table, approach3, budgets, ci=ci, n_boot=n_boot_law, seed=seed, starts=law_starts)
        # the two approaches are compared by their intervals; without them (no resamples) there is no verdict
        compared, agree = True, True
        for key in ("a", "b"):
            lo2, hi2 = head[f"{key}_interval"]
            lo3, hi3 = a3[f"{key}_interval"]
            finite = bool(np.all(np.isfinite([lo2, hi2, lo3, hi3])))
            compared &= finite
            if finite and (hi2 < lo3 or hi3 < lo2):
                agree = False
                warnings.append(f"Approach 2 ({method}) and Approach 3 ({a3['law']}) disagree on {key}: "
                                f"{head[key]:.3f} [{lo2:.3f}, {hi2:.3f}] vs {a3[key]:.3f} [{lo3:.3f}, {hi3:.3f}] "
                                f"({100 * ci:g}% intervals do not overlap)")
        a3["agree"] = agree if compared else None
        warnings.extend(f"approach 3: {w}" for w in a3.pop("warnings", []))
    return IsoFLOP(budgets=budgets, method=method, N_opt=head["N_opt"], D_opt=head["D_opt"], a=head["a"],
                   a_interval=head["a_interval"], b=head["b"], b_interval=head["b_interval"], methods=methods,
                   sizes=sizes, bracketed=bracketed, points=points, approach3=a3, warnings=tuple(warnings),
                   tolerance=float(tolerance), ci=float(ci), notes=isoflop_notes(table.notes))


def _listing(C, values, unit: str = "", prefix: str = "", limit: int = 6) -> str:
    """'C=1e+19 (N=3.2e+08), ...' for up to ``limit`` budgets."""
    items = [f"C={c:.3g} ({prefix}{v:.3g}{' ' + unit if unit else ''})" for c, v in zip(C, values)]
    return ", ".join(items[:limit]) + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def _profile(points: pd.DataFrame, k: int, ratio: bool = False):
    """``(ln N, ln loss)`` of budget ``k``'s sizes, runs of one size averaged (and their ``ln C / (6 N D)``)."""
    p = points[points["budget"] == k]
    g = pd.DataFrame({"x": np.log(p["N"].to_numpy(float)), "y": np.log(p["loss"].to_numpy(float)),
                      "r": np.log(p["C_per_6ND"].to_numpy(float)), "size": p["size"].to_numpy()}
                     ).groupby("size", sort=True).mean()
    out = g["x"].to_numpy(float), g["y"].to_numpy(float)
    return (*out, g["r"].to_numpy(float)) if ratio else out


@float64
def approach3_frontier(runs, law="chinchilla", budgets=None, *, ci: float = 0.9, n_boot: int = 100, seed: int = 0,
                       starts="grid", extra: Mapping[str, float] | None = None) -> dict:
    """Approach 3: the exponents of a fitted law's compute-optimal frontier, with bootstrap intervals.

    ``a`` is the slope of ``ln N_opt`` against ``ln C`` over ``budgets`` (for Chinchilla exactly
    ``beta / (alpha + beta)``), ``b = 1 - a``. Intervals: percentiles over ``n_boot`` refits
    on resampled runs (`fit_many`, `variants.bootstrap`).
    """
    import jax
    import jax.numpy as jnp

    from scalelab import optimal as _frontier
    from scalelab.fit import fit, variants
    from scalelab.optimal.frontier import check_law
    from scalelab.fit.many import fit_many

    check_ci(ci)
    law = _laws.get(law)
    check_law(law, extra)  # a law of N and D (bnsl, of C alone, has no split to fit)
    table = _runs.read(runs).final_points()  # a final-loss law: a curve table's last checkpoints (or all)
    budgets = np.atleast_1d(np.asarray(budgets if budgets is not None else
                                       np.geomspace(table.column("C").min(), table.column("C").max(), 8), float))
    if len(budgets) < 2 or not (np.all(np.isfinite(budgets)) and np.all(budgets > 0)):
        raise ValueError(f"budgets: give two or more compute budgets in FLOPs, finite and > 0 (the slope of "
                         f"ln N_opt on ln C needs two); got {budgets}")
    res = fit(table, law, starts=starts, seed=seed)
    warnings = [] if res.converged else [f"the {law.name} fit did not meet the convergence test"]
    rows = [res.params]
    if n_boot:
        # warm starts: the full fit's optimum and one perturbed copy (no second grid search)
        theta0 = np.asarray(law.flatten({k: jnp.asarray(v) for k, v in res.unconstrained.items()}), float)
        jitter = theta0 + 0.02 * np.random.default_rng(seed).standard_normal(theta0.size)
        vs = variants.bootstrap(table, n_boot, seed=seed, min_runs=law.n_params + 1)  # each resample identifies it
        boot = fit_many(table, law, vs, starts=np.vstack([theta0, jitter]), keep=2, seed=seed)
        if (~boot["converged"]).any():
            warnings.append(f"{int((~boot['converged']).sum())} of {n_boot} bootstrap refits did not converge")
        rows += boot[list(law.params)].to_dict("records")
    lc = np.log(budgets)
    if law.name == "chinchilla" and not extra:  # Hoffmann et al. 2022, Eq. 4: N_opt = G (C/6)^(beta/(alpha+beta))
        al = np.array([float(r["alpha"]) for r in rows])[:, None]
        be = np.array([float(r["beta"]) for r in rows])[:, None]
        A = np.array([float(r["A"]) for r in rows])[:, None]
        B = np.array([float(r["B"]) for r in rows])[:, None]
        logn = np.log((al * A / (be * B)) ** (1 / (al + be))) + be / (al + be) * (lc - np.log(6.0))
    else:
        P = {k: jnp.asarray([float(r[k]) for r in rows]) for k in law.params}
        theta = law.flatten(law.to_unconstrained(P))  # [1 + n_boot, P]
        ex = {k: jnp.asarray(float(v)) for k, v in (extra or {}).items()}
        logn = jax.jit(jax.vmap(lambda th: jax.vmap(lambda c: _frontier.optimal_log_n(law, th, c, ex))(
            jnp.exp(lc))))(theta)
        logn = np.asarray(logn, float)  # [1 + n_boot, K]
    slope, _ = _slopes(lc, logn, np.ones_like(logn))
    a_all = slope
    q = 50 * (1 - ci)
    boot_a = a_all[1:]
    lo, hi = (np.nanpercentile(boot_a, [q, 100 - q]) if boot_a.size else (np.nan, np.nan))
    N = np.exp(logn[0])
    return {"law": law.name, "params": {k: float(v) for k, v in res.params.items()}, "a": float(a_all[0]),
            "a_interval": [float(lo), float(hi)], "b": float(1 - a_all[0]), "b_interval": [float(1 - hi), float(1 - lo)],
            "budgets": budgets.tolist(), "N_opt": N.tolist(), "D_opt": (budgets / (6 * N)).tolist(),
            "n_boot": int(n_boot), "warnings": warnings}


__all__ = ["isoflop", "IsoFLOP", "IsoFLOPError", "group_budgets", "minimum", "curve", "power_law",
           "approach3_frontier", "akima_slopes", "akima_eval", "METHODS"]
