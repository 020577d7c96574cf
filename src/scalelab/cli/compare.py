"""``scalelab compare``: several laws fitted to one run table, scored by fit, AIC/BIC and extrapolation."""

from __future__ import annotations

from scalelab.cli.options import UsageError, add_json, add_table, dumps, err, read_table, starts_value


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def cmd_compare(args) -> int:
    from scalelab import laws
    from scalelab.fit.compare import compare

    if args.laws != "all":
        names = [s.strip() for s in args.laws.split(",") if s.strip()]
        unknown = [n for n in names if not _known(laws, n)]
        if unknown or not names:
            close = {n: laws.nearest(n) for n in unknown}  # the suggestion `laws.get` makes
            hint = "; ".join(f"did you mean {c!r} for {n!r}?" for n, c in close.items() if c)
            raise UsageError(f"--laws: unknown law(s) {unknown or [args.laws]}; {hint + '; ' if hint else ''}"
                             f"known: {', '.join(laws.names())}")
    table = read_table(args)
    if args.holdout_by is not None and args.holdout_by not in table.columns:
        raise UsageError(f"--holdout-by {args.holdout_by!r}: no such column; columns are {table.columns}")
    out = compare(table, args.laws, holdout_by=args.holdout_by, objective=args.objective, delta=args.delta,
                  starts=args.starts, seed=args.seed)
    h = out["holdout"]
    # the runs' design (as `fit` prints it), the held-out split, and what a law's fit could not settle (constant
    # inputs, no convergence): on stderr with --json too (--strict counts them), and every one in the JSON's warnings
    printed = (list(out["warnings"]) + ([h["warning"]] if h.get("warning") else [])
               + [f"{r['law']}: {note}" for r in out["laws"] for note in r.get("notes", [])])
    if not any(r["status"] == "ok" for r in out["laws"]):  # the reasons alone: no warning about a comparison not made
        raise UsageError("no law could be compared on these runs: " + "; ".join(
            f"{r['law']}: {r['reason']}" for r in out["laws"]))
    for w in printed:
        err(f"warning: {w}")
    if args.json:
        print(dumps({**out, "warnings": printed}))
        return 0
    print(f"{out['n_runs']} run{'s' if out['n_runs'] != 1 else ''}; held out: {h.get('n', 0)} run{'s' if h.get('n', 0) != 1 else ''} with the largest {h.get('by')} "
          f"({_fmt(h.get('value'), '.4g')}){' - ' + h['note'] if 'note' in h else ''}")
    print(f"{'law':<28}{'k':>3}{'objective':>12}{'AIC':>10}{'AICc':>10}{'BIC':>10}{'extrap ARE':>12}{'max RE':>9}")
    for r in out["laws"]:
        if r["status"] != "ok":
            print(f"{r['law']:<28} skipped: {r['reason']}")
            continue
        are = r.get("extrapolation_are")
        print(f"{r['law']:<28}{r['n_params']:>3}{r['objective']:>12.4g}{r['aic']:>10.1f}{_fmt(r['aicc'], '10.1f'):>10}"
              f"{r['bic']:>10.1f}"
              f"{'-' if are is None else format(100 * are, '11.2f') + '%':>12}"
              f"{'-' if are is None else format(100 * r['extrapolation_max_re'], '8.2f') + '%':>9}")
    return 0


def _known(laws, name) -> bool:
    try:
        laws.get(name)
        return True
    except KeyError:
        return False


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("compare", help="fit several laws and compare fit, AIC/BIC and extrapolation")
    add_table(p)
    p.add_argument("--laws", default="chinchilla,kaplan",
                   help="comma-separated law names, or 'all' (every loss law); default chinchilla,kaplan")
    p.add_argument("--holdout-by", default=None, help="column whose largest value is held out (default N, else C)")
    p.add_argument("--objective", default="huber", choices=["huber", "mse"],
                   help="huber (robust, Hoffmann/Epoch) or mse on log-loss residuals")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals")
    p.add_argument("--starts", type=starts_value, default="auto",
                   help="'grid', 'auto' or a number of random starts (default: as scalelab fit, 'auto')")
    p.add_argument("--seed", type=int, default=0)
    add_json(p)
    p.set_defaults(func=cmd_compare)
