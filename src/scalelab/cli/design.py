"""`scalelab influence` (and `scalelab suggest`): decisions from a fit, on the command line.

A thin layer over `scalelab.design`. ``--json`` prints exactly one object on stdout;
progress and tables for people go to stderr/stdout as text otherwise.

``scalelab suggest --json`` object: ``law``, ``target``, ``value``, ``sd_before``, ``sd_after``,
``sigma``, ``budget``, ``spent`` (FLOPs, ``C = 6ND``), ``runs`` (list of ``N``, ``D``, ``C``,
``tokens_per_param``, ``sd_after``, ``reduction``, ``reduction_per_flop``), ``method``, ``sd_greedy``.
"""

from __future__ import annotations

import json
import sys


def _read(args):
    from scalelab.cli import read_table

    return read_table(args)


def _fixed(items):
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--fix {item!r}: write NAME=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = float(v)
    return out


def cmd_influence(args) -> int:
    from scalelab import design

    table = _read(args)
    print(f"influence: {args.law} on {len(table)} runs, target {args.target}"
          + (" (with leave-one-out refits)" if args.loo else ""), file=sys.stderr)
    res = design.influence(table, args.law, args.target, objective=args.objective, delta=args.delta,
                           starts=args.starts if args.starts == "grid" else int(args.starts),
                           fixed=_fixed(args.fix), method=args.method, loo=args.loo, progress=args.loo)
    if args.json:
        print(json.dumps(res.to_json()))
        return 0
    t = res.table()
    print(f"{res.target} = {res.value:.6g} ({res.law}); influence = predicted change when the run is removed "
          f"({res.method}, {res.seconds:.2f} s)")
    shown = t if args.top <= 0 else t.head(args.top)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:+.3e}"))
    if args.loo:
        from scipy.stats import spearmanr

        rho = spearmanr(res.influence, res.loo_change)[0]
        print(f"Spearman(influence, leave-one-out change) = {rho:.4f}; refits {res.loo_seconds:.2f} s")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("influence", help="effect of removing each run on a forecast (implicit gradients of the fit)")
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--target", default="loss@C=1e24",
                   help="loss@C=1e24 | loss@N=1e9,D=2e10 | N_opt@C=.. | D_opt@C=.. | tokens_per_param@C=.. "
                        "(add held inputs, e.g. ',E=8')")
    p.add_argument("--objective", default="huber", choices=["huber", "mse"])
    p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals")
    p.add_argument("--starts", default="grid", help="'grid' or a number of random starts")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter fixed (repeatable)")
    p.add_argument("--method", default="first-order", choices=["first-order", "newton"],
                   help="first-order implicit gradient, or one Newton step per left-out run")
    p.add_argument("--loo", action="store_true", help="also refit without each run and report the actual change")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss runs first (Epoch drops 5)")
    p.add_argument("--top", type=int, default=20, help="rows shown in the text table (0: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_influence)
    _add_suggest(sub)


def cmd_suggest(args) -> int:
    from scalelab import design

    table = _read(args)
    print(f"suggest: {args.law} on {len(table)} runs, target {args.target}, budget {args.budget:.3g} FLOPs, "
          f"k = {args.k}", file=sys.stderr)
    res = design.suggest(table, args.law, args.target, budget=args.budget, k=args.k, objective=args.objective,
                         delta=args.delta, starts=args.starts if args.starts == "grid" else int(args.starts),
                         fixed=_fixed(args.fix), method=args.method, min_fraction=args.min_fraction,
                         tokens_per_param=(args.min_ratio, args.max_ratio), steps=args.steps)
    if args.json:
        print(json.dumps(res.to_json()))
        return 0
    print(f"{res.target} = {res.value:.6g} ({res.law}); Laplace sd {res.sd_before:.3g} now, {res.sd_after:.3g} "
          f"after the runs below (sigma {res.sigma:.3g}); {res.spent:.3g} of {res.budget:.3g} FLOPs; "
          f"{res.method}" + (f" (greedy sd {res.sd_greedy:.3g})" if res.method != "greedy" else ""))
    print(res.runs.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def _add_suggest(sub) -> None:
    p = sub.add_parser("suggest", help="choose the next k runs, within a FLOP budget, that most narrow a forecast")
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--target", default="loss@C=1e24", help="as for `scalelab influence`")
    p.add_argument("--budget", type=float, required=True, help="FLOPs for all new runs together (C = 6ND each)")
    p.add_argument("--k", type=int, default=4, help="number of runs to choose")
    p.add_argument("--method", default="greedy", choices=["greedy", "gradient"],
                   help="greedy from an isoFLOP candidate pool, or gradient descent on all k runs from there")
    p.add_argument("--min-fraction", type=float, default=0.01,
                   help="smallest run, as a fraction of the budget (pool floor and gradient lower bound)")
    p.add_argument("--min-ratio", type=float, default=1.0, help="fewest tokens per parameter of a new run")
    p.add_argument("--max-ratio", type=float, default=1000.0, help="most tokens per parameter of a new run")
    p.add_argument("--steps", type=int, default=300, help="Adam steps of --method gradient")
    p.add_argument("--objective", default="huber", choices=["huber", "mse"])
    p.add_argument("--delta", type=float, default=1e-3)
    p.add_argument("--starts", default="grid")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_suggest)
