"""`scalelab influence` (and `scalelab suggest`): decisions from a fit, on the command line.

A thin layer over `scalelab.design`. ``--json`` prints exactly one object on stdout;
progress and tables for people go to stderr/stdout as text otherwise.

``scalelab suggest --json`` object: ``law``, ``target``, ``value``, ``sd_before``, ``sd_after``,
``sigma``, ``budget``, ``spent`` (FLOPs, ``C = 6ND``), ``runs`` (list of ``N``, ``D``, ``C``,
``tokens_per_param``, ``sd_after``, ``reduction``, ``reduction_per_flop``), ``method``, ``sd_greedy``.
A suggestion with fewer than ``--k`` runs or under 90% of the budget spent, or runs more than a decade outside
the table's model sizes, prints a ``warning:`` on stderr that says how much and why (``--strict`` makes it exit
2); so do the fit's design warnings (D a function of N, ...). Both ``--json`` objects carry them as ``warnings``.
"""

from __future__ import annotations

import sys

from scalelab.cli.options import UsageError, add_fit, add_json, add_table, count, dumps, err, fixed_from, law_rows, read_table


def spearman(a, b) -> float:
    """Spearman rank correlation in NumPy (ties get their average rank), so that `--loo` needs no SciPy."""
    import numpy as np

    def ranks(x):
        x = np.asarray(x, float)
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=float)
        _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
        sums = np.bincount(inv, weights=r)
        return (sums / counts)[inv]

    ra, rb = ranks(a), ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def cmd_influence(args) -> int:
    from scalelab import design

    table = read_table(args)
    print(f"influence: {args.law} on {law_rows(table, args.law)[1]}, target {args.target}"
          + (" (with leave-one-out refits)" if args.loo else ""), file=sys.stderr)
    res = design.influence(table, args.law, args.target, objective=args.objective, delta=args.delta,
                           starts=args.starts,
                           fixed=fixed_from(args.fix), method=args.method, loo=args.loo, progress=args.loo)
    for w in res.warnings:  # the fit's: the design, parameters at the edge of their range
        err(f"warning: {w}")
    if args.json:
        print(dumps(res.to_json()))
        return 0
    t = res.table()
    print(f"{res.target} = {res.value:.6g} ({res.law}); influence = predicted change when the run is removed "
          f"({res.method}, {res.seconds:.2f} s)")
    shown = t if args.top <= 0 else t.head(args.top)
    print(shown.to_string(index=False, float_format=lambda v: f"{v:+.3e}"))
    if args.loo:
        rho = spearman(res.influence, res.loo_change)
        print(f"Spearman(influence, leave-one-out change) = {rho:.4f}; refits {res.loo_seconds:.2f} s")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("influence", help="effect of removing each run on a forecast (implicit gradients of the fit)")
    add_table(p)
    add_fit(p)
    p.add_argument("--target", default="loss@C=1e24",
                   help="loss@C=1e24 | loss@N=1e9,D=2e10 | N_opt@C=.. | D_opt@C=.. | tokens_per_param@C=.. "
                        "(add held inputs, e.g. ',E=8')")
    p.add_argument("--method", default="newton", choices=["first-order", "newton"],
                   help="one Newton step per left-out run (default: it sees a run of high leverage), or the "
                        "first-order implicit gradient")
    p.add_argument("--loo", action="store_true", help="also refit without each run and report the actual change")
    p.add_argument("--top", type=count(0), default=20, help="rows shown in the text table (0: all)")
    add_json(p)
    p.set_defaults(func=cmd_influence)
    _add_suggest(sub)


def cmd_suggest(args) -> int:
    import math

    from scalelab import design

    lo, hi = args.min_ratio, args.max_ratio
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
        raise UsageError(f"--min-ratio {lo:g} and --max-ratio {hi:g}: tokens per parameter must satisfy "
                         f"0 < --min-ratio <= --max-ratio (e.g. 1 and 1000)")
    table = read_table(args)
    print(f"suggest: {args.law} on {law_rows(table, args.law)[1]}, target {args.target}, budget {args.budget:.3g} FLOPs, "
          f"k = {args.k}", file=sys.stderr)
    res = design.suggest(table, args.law, args.target, budget=args.budget, k=args.k, objective=args.objective,
                         delta=args.delta, starts=args.starts,
                         fixed=fixed_from(args.fix), method=args.method, min_fraction=args.min_fraction,
                         tokens_per_param=(args.min_ratio, args.max_ratio), steps=args.steps,
                         min_separation=args.min_separation)
    for w in res.warnings:  # the fit's, runs far outside the ladder, a budget left unspent
        err(f"warning: {w}")
    if args.json:
        print(dumps(res.to_json()))
        return 0
    print(f"{res.target} = {res.value:.6g} ({res.law}); Laplace sd {res.sd_before:.3g} now, {res.sd_after:.3g} "
          f"after the runs below (the fit's asymptotic sd, the law taken as exact; noise scale {res.sigma:.3g}: "
          f"the fit objective's own, of its log residuals); "
          f"{res.spent:.3g} of {res.budget:.3g} FLOPs "
          f"({100 * res.spent / res.budget:.0f}% spent); "
          f"{res.method}" + (f" (greedy sd {res.sd_greedy:.3g})" if res.method != "greedy" else ""))
    print(res.runs.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


def decades(text: str) -> float:
    """An argparse type: a finite number of decades >= 0 (``--min-separation``)."""
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of decades >= 0, got {text}")
    return v


def _add_suggest(sub) -> None:
    p = sub.add_parser("suggest", help="choose the next k runs, within a FLOP budget, that most narrow a forecast")
    add_table(p)
    add_fit(p)
    p.add_argument("--target", default="loss@C=1e24", help="as for `scalelab influence`")
    p.add_argument("--budget", type=float, required=True, help="FLOPs for all new runs together (C = 6ND each)")
    p.add_argument("--k", type=count(1), default=4, help="number of runs to choose")
    p.add_argument("--method", default="greedy", choices=["greedy", "gradient"],
                   help="greedy from an isoFLOP candidate pool, or gradient descent on all k runs from there")
    p.add_argument("--min-fraction", type=float, default=0.01,
                   help="smallest run, as a fraction of the budget (pool floor and gradient lower bound)")
    p.add_argument("--min-ratio", type=float, default=1.0, help="fewest tokens per parameter of a new run")
    p.add_argument("--max-ratio", type=float, default=1000.0, help="most tokens per parameter of a new run")
    p.add_argument("--steps", type=count(1), default=300, help="Adam steps of --method gradient")
    p.add_argument("--min-separation", type=decades, default=0.25,
                   help="least distance between two new runs in (log10 N, log10 D), decades (0.25: e.g. 1.5x "
                        "in both N and D); 0 lets runs repeat one design point")
    add_json(p)
    p.set_defaults(func=cmd_suggest)
