"""``scalelab fit`` (one law, optional bootstrap intervals) and ``scalelab fit-many`` (a table of variants)."""

from __future__ import annotations

import json

from scalelab.cli.options import add_fit, add_json, add_table, err, fixed_from, read_table, starts_value


def cmd_fit(args) -> int:
    from scalelab.fit import fit

    table = read_table(args)
    fixed = fixed_from(args.fix)
    err(f"fitting {args.law} to {len(table)} runs ({args.objective}, delta={args.delta}, starts={args.starts}) ...")
    res = fit(table, args.law, objective=args.objective, delta=args.delta, starts=args.starts, seed=args.seed,
              fixed=fixed)
    if not res.converged:
        err("warning: the best start did not meet the convergence test; see `n_iter` and try more iterations")
    err(f"done in {res.seconds:.2f} s (best of {res.n_starts} starts: #{res.best_start}, {res.n_iter} iterations)")
    out = res.to_json()
    if args.bootstrap:
        from scalelab.fit import variants
        from scalelab.fit.many import fit_many, percentile_intervals

        boot = fit_many(table, args.law, variants.bootstrap(table, args.bootstrap, seed=args.seed, by=args.bootstrap_by),
                        objective=args.objective, delta=args.delta, fixed=fixed, seed=args.seed, progress=True)
        out["intervals"] = percentile_intervals(boot, list(res.params), ci=args.ci)
        bad = int((~boot["converged"]).sum())
        if bad:
            err(f"warning: {bad} of {len(boot)} bootstrap refits did not converge")
        out["seconds"] = res.seconds + boot.attrs["seconds"]
    if args.json:
        print(json.dumps(out))
    else:
        print(f"law        {res.law}")
        for k, v in res.params.items():
            print(f"{k:<10} {v:.6g}")
        print(f"objective  {res.objective:.10g}  ({res.objective_kind}, delta={res.delta})")
        print(f"runs       {res.n_runs}")
        print(f"converged  {res.converged}")
        for k, (lo, hi) in out.get("intervals", {}).items():
            print(f"{k:<10} {100 * args.ci:g}% bootstrap interval [{lo:.6g}, {hi:.6g}]")
    return 0


def cmd_fit_many(args) -> int:
    import pandas as pd

    from scalelab.fit import variants
    from scalelab.fit.many import fit_many
    from scalelab.runs import io

    table = read_table(args)
    spec = io.read_frame(args.variants)
    groups = variants.from_table(table, spec)
    frames = []
    for law, vs in groups.items():  # one compiled program per law
        err(f"fit_many: {len(vs)} variants of {law} on {len(table)} runs")
        frames.append(fit_many(table, law, vs, starts=args.starts, progress=True))
    out = pd.concat(frames, ignore_index=True).sort_values("row").reset_index(drop=True)
    io.write(out, args.out)
    err(f"wrote {len(out)} rows to {args.out}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("fit", help="fit a law to a run table (CSV/parquet)")
    add_table(p)
    add_fit(p, seed=True)
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="add percentile intervals from B bootstrap refits (one compiled fit_many)")
    p.add_argument("--bootstrap-by", default=None, metavar="COLUMN",
                   help="resample whole groups of runs (e.g. family) instead of single runs")
    p.add_argument("--ci", type=float, default=0.95, help="interval level for --bootstrap")
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
