"""``scalelab fit`` (one law, optional bootstrap intervals) and ``scalelab fit-many`` (a table of variants)."""

from __future__ import annotations

import math

from scalelab.programs import float64  # a decorator only: imports no JAX until called
from scalelab.progress import ticking  # imports tqdm only when shown
from scalelab.cli.options import (UsageError, add_fit, check_own_output, count, fraction, add_json, add_table, dumps, err,
                                  fixed_from, floats, law_rows, read_table, starts_value)


@float64
def _allocation_intervals(law, boot, C, extra, ci):
    """N_opt, D_opt, tokens/param percentile intervals over bootstrap refits (one vmapped solve), over the refits
    with a finite optimum, and the warnings (refits without one)."""
    import jax.numpy as jnp
    import numpy as np

    from scalelab.optimal.frontier import allocation_draws, allocation_warnings

    theta = law.flatten(law.to_unconstrained({k: jnp.asarray(boot[k].to_numpy(float)) for k in law.params}))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        draws = allocation_draws(law, np.asarray(theta), C, extra)
    ok = np.isfinite(draws["N_opt"]) & np.isfinite(draws["D_opt"])  # [B, K]: refits with a finite optimum
    if not ok.any(axis=0).all():
        raise UsageError(f"--allocate: no bootstrap refit has a finite compute-optimal split at C = "
                         f"{C[~ok.any(axis=0)][0]:.3g} (the loss does not fall with both N and D: an exponent <= 0; "
                         f"see the fit's warnings)")
    said = [] if ok.all() else [f"{int((~ok.all(axis=1)).sum())} of {len(ok)} bootstrap refits have no finite "
                                f"compute-optimal split (an exponent <= 0); the allocation intervals are over the others"]
    lo, hi = 50 * (1 - ci), 100 - 50 * (1 - ci)
    pick = {k: np.where(ok, draws[k], np.nan) for k in ("N_opt", "D_opt", "tokens_per_param")}
    said += allocation_warnings(C, np.nanmedian(pick["N_opt"], 0), np.nanmedian(pick["D_opt"], 0))
    return {"C": C.tolist(), **{k: {"median": np.nanmedian(v, 0).tolist(), "lo": np.nanpercentile(v, lo, 0).tolist(),
                                    "hi": np.nanpercentile(v, hi, 0).tolist()} for k, v in pick.items()}}, said


MIN_BOOTSTRAP_RUNS = 5  # 4 runs give 35 distinct resamples, 3 give 10: percentiles of so few refits say little


def _bootstrap_groups(law, n_runs: int, warnings: list) -> str | None:
    """What ``fit --bootstrap`` resamples without --bootstrap-by: single runs (None), or for a curve law whole runs
    (``run_id``): a run's checkpoints share its noise and schedule, and resampling them as independent points gave
    intervals about 2x too narrow (s29 trial, finding 7). A run bootstrap of fewer than `MIN_BOOTSTRAP_RUNS` runs
    is warned about (appended to ``warnings``, the JSON's)."""
    from scalelab.laws import is_curve_law

    if not is_curve_law(law):
        return None
    err("note: --bootstrap resamples whole runs (run_id) of a curve law: a run's checkpoints are not independent")
    if n_runs < MIN_BOOTSTRAP_RUNS:
        distinct = math.comb(2 * n_runs - 1, n_runs)
        said = (f"--bootstrap: {n_runs} run(s) give only {distinct} distinct resamples of whole runs, too few for the "
                f"intervals to mean much (many resamples repeat one run, which cannot tell a curve law's parameters "
                f"apart); add runs (at least {MIN_BOOTSTRAP_RUNS}), or read the intervals as rough")
        err(f"warning: {said}")
        warnings.append(said)
    return "run_id"


def cmd_fit(args) -> int:
    from scalelab import laws
    from scalelab.fit import fit
    law = laws.get(args.law)
    if args.bootstrap == 1:
        raise UsageError("--bootstrap 1: one refit gives no interval (its 'interval' is one point, which may not even "
                         "hold the fit); give 100 or more, or 0 for none")
    if getattr(args, "plot", None):  # a figure that cannot be drawn or written is refused before the fit, not after
        from scalelab.cli.report import check_writable_file
        from scalelab.laws import is_curve_law

        if is_curve_law(law):  # the figure is loss against compute (N, D or C): a curve table has none of them
            raise UsageError(f"--plot draws a final-loss law against compute; {law.name!r} is a learning-curve law "
                             f"(the loss along each run's steps), which it cannot draw: drop --plot (in Python, "
                             f"scalelab.curves.predict_table(fit, CURVES.csv) gives the fitted loss at every row)")
        check_writable_file(args.plot)
    table, runs = law_rows(read_table(args), law)  # a curve table and a final-loss law: each run's last checkpoint
    fixed = fixed_from(args.fix)
    extra = fixed_from(args.hold, "--hold") or {}
    if extra and not args.allocate:
        raise UsageError("--hold applies to --allocate (inputs held fixed while C is split into N and D); "
                         "add --allocate C --bootstrap B, or drop --hold")
    unread = [n for n in extra if n not in law.inputs or n in ("N", "D")]
    if unread:
        raise UsageError(f"--hold {', '.join(unread)}: law {law.name!r} does not hold it fixed (its inputs: "
                         f"{', '.join(law.inputs)}; N and D are what --allocate chooses)")
    if args.allocate and not args.bootstrap:
        raise UsageError("--allocate needs --bootstrap B (intervals of N_opt and D_opt come from the refits); "
                         "for a point allocation use `scalelab allocate --from FIT.json`")
    budgets = floats(args.allocate, "--allocate") if args.allocate else None
    if budgets is not None and not (budgets > 0).all():
        raise UsageError(f"--allocate {args.allocate!r}: compute budgets must be > 0 FLOPs")
    err(f"fitting {law.name} to {runs} ({args.objective}, delta={args.delta}, starts={args.starts}) ...")
    with ticking("fitting", None):  # seconds so far, on a terminal: a cold compile or a curve law takes several
        res = fit(table, law, objective=args.objective, delta=args.delta, starts=args.starts, seed=args.seed,
                  fixed=fixed, max_iter=args.max_iter)
    err(f"done in {res.seconds:.2f} s (best of {res.n_starts} starts: #{res.best_start}, {res.n_iter} iterations)")
    # the stable contract; its warnings (no convergence, identifiability, outlying runs) are every one printed on
    # stderr, what --strict counts, and the bootstrap's below join them
    out = res.to_json()
    for w in out["warnings"]:
        err(f"warning: {w}")
    if args.bootstrap:
        from scalelab.fit import variants
        from scalelab.fit.many import fit_many, percentile_intervals

        free = [k for k in res.params if k not in (fixed or {})]
        by = args.bootstrap_by or _bootstrap_groups(law, res.n_runs, out["warnings"])
        # every resample keeps more distinct runs than free parameters (a small table's rare short ones are redrawn)
        vs = variants.bootstrap(table, args.bootstrap, seed=args.seed, by=by, min_runs=len(free) + 1)
        if vs.info["redrawn"].any():
            err(f"note: {int(vs.info['redrawn'].sum())} of {len(vs)} resamples kept {len(free)} or fewer distinct runs "
                f"(too few for {len(free)} free parameters) and were drawn again")
        boot = fit_many(table, law, vs, objective=args.objective, seed=args.seed, progress=True, delta=args.delta,
                        fixed=fixed, max_iter=args.max_iter, start_fit=res)  # the resamples start from this fit's optimum
        out["intervals"] = percentile_intervals(boot, free, ci=args.ci)
        bad = int((~boot["converged"]).sum())
        if bad:
            err(f"warning: {bad} of {len(boot)} bootstrap refits did not converge")
            out["warnings"].append(f"{bad} of {len(boot)} bootstrap refits did not converge")
        out["compile_seconds"] = res.compile_seconds + boot.attrs.get("compile_seconds", 0.0)
        if args.allocate:
            out["allocation"], said = _allocation_intervals(law, boot, budgets, extra, args.ci)
            for w in said:
                err(f"warning: {w}")
            out["warnings"] += said
        out["seconds"] = res.seconds + boot.attrs["seconds"]
    if args.json:
        print(dumps(out))
    else:
        print(f"law        {res.law}")
        for k, v in res.params.items():
            print(f"{k:<10} {v:.6g}")
        print(f"objective  {res.objective:.10g}  ({res.objective_kind}, delta={res.delta})")
        rows = f" ({res.n_rows} checkpoints)" if res.n_rows != res.n_runs else ""
        print(f"runs       {res.n_runs}{rows}")
        print(f"converged  {res.converged}")
        for k, (lo, hi) in out.get("intervals", {}).items():
            print(f"{k:<10} {100 * args.ci:g}% bootstrap interval [{lo:.6g}, {hi:.6g}]")
        for k in fixed or {}:
            print(f"{k:<10} fixed (no interval)")
        a = out.get("allocation")
        if a:
            print(f"compute-optimal allocation: median of the {args.bootstrap} bootstrap refits, "
                  f"[{100 * args.ci:g}% interval] (the fit's own: scalelab allocate --from FIT.json)")
        for i, c in enumerate(a["C"] if a else ()):
            print(f"C={c:.3g} FLOPs  " + "  ".join(
                f"{k}={a[k]['median'][i]:.4g} [{a[k]['lo'][i]:.4g}, {a[k]['hi'][i]:.4g}]"
                for k in ("N_opt", "D_opt", "tokens_per_param")))
    if getattr(args, "plot", None):  # the runs, the fitted law and (with --bootstrap) its band: after the results
        from scalelab.cli.report import plot_fit  # are printed, so a figure that fails loses none of them

        plot_fit(table, res.law, res.params, args.plot, boot if args.bootstrap else None, args.ci)
    return 0


VARIANT_COLUMNS = ("law", "filter", "delta", "fixed", "name")
FIT_MANY_COLUMNS = ("law", "kind", "variant", "objective", "converged")  # what every fit-many result holds


def cmd_fit_many(args) -> int:
    import pandas as pd

    from scalelab import laws
    from scalelab.fit import variants
    from scalelab.fit.identify import design_warnings
    from scalelab.fit.many import fit_many, variant_vectors
    from scalelab.runs import io

    check_own_output(args.out, FIT_MANY_COLUMNS, "--out", "a `scalelab fit-many` result")
    spec = io.read_frame(args.variants)
    unknown = [c for c in spec.columns if c not in VARIANT_COLUMNS]
    if unknown or len(spec) == 0:
        raise UsageError(f"--variants {args.variants}: " + (f"columns {unknown} are not variant settings; " if unknown
                         else "no variant rows; ") + f"give one row per variant with columns among {VARIANT_COLUMNS}")
    if "law" in spec.columns:
        for name in dict.fromkeys(str(v) for v in spec["law"].dropna()):
            laws.get(name)  # an unknown name exits 2 listing the known ones, before any fit
    table = read_table(args)
    groups = variants.from_table(table, spec)
    for law, vs in groups.items():  # every variant checked before any is fitted: a bad row names itself, early
        variant_vectors(laws.get(law), vs)
    said = dict.fromkeys(w for law in map(laws.get, groups) for w in design_warnings(table, law.inputs, (law,)))
    for w in said:  # what the runs' design leaves undetermined, as `scalelab fit` says it
        err(f"warning: {w}")
    frames = []
    for law, vs in groups.items():  # one compiled program per law
        err(f"fit_many: {len(vs)} variants of {law} on {law_rows(table, law)[1]}")
        frames.append(fit_many(table, law, vs, starts=args.starts, progress=True))
    out = pd.concat(frames, ignore_index=True).sort_values("row").reset_index(drop=True)
    io.write(out, args.out)
    err(f"wrote {len(out)} rows to {args.out}")
    bad = ~out["converged"].astype(bool)
    if bad.any():
        names = out.loc[bad, "variant"]
        err(f"warning: {int(bad.sum())} of {len(out)} variants did not converge ({', '.join(map(str, names[:10]))}"
            f"{', ...' if bad.sum() > 10 else ''}): see their 'converged' column")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("fit", help="fit a law to a run table (CSV/parquet)")
    add_table(p)
    add_fit(p, seed=True, max_iter=True)
    p.add_argument("--bootstrap", type=count(0), default=0, metavar="B",
                   help="add percentile intervals from B bootstrap refits (one compiled fit_many)")
    p.add_argument("--bootstrap-by", default=None, metavar="COLUMN",
                   help="resample whole groups of runs (e.g. family) instead of single runs (default: single runs; "
                        "for a curve law whole runs, run_id, as a run's checkpoints are not independent)")
    p.add_argument("--ci", type=fraction, default=0.95, help="interval level for --bootstrap")
    p.add_argument("--allocate", metavar="C", help="with --bootstrap: intervals of N_opt, D_opt and tokens/param "
                                                   "at these compute budgets (FLOPs, comma-separated)")
    p.add_argument("--hold", action="append", metavar="NAME=VALUE",
                   help="with --allocate: a law input held fixed (e.g. E=8 experts; repeatable)")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="also write the figure of the fit (.png, .svg or .pdf)")
    add_json(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("fit-many", help="fit a table of variants (law, filter, delta, fixed) in one compiled call per law")
    add_table(p)
    p.add_argument("--variants", required=True,
                   help="CSV/JSON/parquet, one row per variant: law, filter (pandas query), delta, fixed ('alpha=0.3;beta=0.3'), name")
    p.add_argument("--out", required=True, help="result file (.csv or .parquet), one row per variant")
    p.add_argument("--starts", type=starts_value, default="auto",
                   help="'auto' (warm start from the full fit), 'grid' or a number")
    p.set_defaults(func=cmd_fit_many)
