"""`scalelab forecast DATA --at TARGETS.csv [--law NAME|auto] [--ci 0.9] [--json]` (see `scalelab.forecast`;
curve tables: `scalelab.forecast.curves`)."""

from __future__ import annotations

import argparse

from scalelab.cli.options import UsageError, add_json, add_table, column_map, dumps, err, fraction, read_table


def read_targets(path):
    """``--at`` as a DataFrame (with its file line numbers): the file exists and has rows. Its values are
    checked by `scalelab.forecast` (errors name the file's lines, and the CLI names the flag)."""
    from scalelab.runs import read_frame

    df = read_frame(path)
    if len(df) == 0:
        raise UsageError(f"--at {path}: no target rows (a header alone); give one row per run to forecast")
    return df


def cmd_forecast(args) -> int:
    from scalelab.forecast import forecast

    if args.law != "auto":
        from scalelab import laws

        for name in [s.strip() for s in args.law.split(",") if s.strip()]:
            if laws.get(name).target != "loss":
                raise UsageError(f"--law {name}: predicts {laws.get(name).target!r}, not the loss; forecast weighs "
                                 f"loss laws (see `scalelab laws`)")
    if getattr(args, "plot", None):  # a figure that cannot be written is refused before the fits, not after
        from scalelab.cli.report import check_writable_file

        check_writable_file(args.plot)
    targets = read_targets(args.at)
    # --map names the run table's columns; a targets file with the same headers is read under the same names
    renames = {src: name for name, src in (column_map(args.column_map) or {}).items()
               if src in targets.columns and name not in targets.columns}
    if renames:
        lines = targets.attrs.get("lines")
        targets = targets.rename(columns=renames)
        targets.attrs["lines"] = lines
    targets.attrs["asker"] = "--at"  # forecast's errors about the targets name the flag
    table = read_table(args)
    from scalelab.forecast.curves import is_curve_request

    if getattr(args, "plot", None) and is_curve_request(table, args.law, targets):  # said before the work, not after
        err("warning: --plot draws final-loss forecasts only; no figure for a curve forecast")
        args.plot = None
    err(f"forecasting from {len(table)} {'rows' if table.is_curve else 'runs'} (laws: {args.law}) ...")
    try:
        fc = forecast(table, targets, laws=args.law, ci=args.ci, seed=args.seed, off_fit=args.off_fit,
                      sweeps=args.sweeps)
    except RuntimeError as e:  # every candidate law failed to fit here: the reasons, as a data error
        if "every candidate law failed" not in str(e):
            raise
        raise UsageError(f"{args.data}: {e}") from None
    except ValueError as e:  # the targets' own errors, named by the file they came from
        if not str(e).startswith("targets"):
            raise
        raise UsageError(f"--at {args.at}: {e}") from None
    for note in fc.notes[len(table.notes):]:
        err(f"note: {note}")
    for w in fc.warnings:
        err(f"warning: {w}")
    out = fc.to_json()
    if getattr(args, "plot", None):  # the runs and the law with the largest weight (a curve forecast: said above)
        from scalelab.cli.report import plot_fit

        top = max(fc.weights, key=fc.weights.get)
        from scalelab.runs.amounts import implied_amounts

        x = {c: fc.inputs[c].to_numpy(float) for c in fc.inputs.columns}
        C = x.get("C", implied_amounts(x).get("C"))  # the targets' compute, as the runs' (C = 6 N D)
        plot_fit(table, fc.laws[top]["law"], fc.laws[top]["params"], args.plot, ci=fc.ci,
                 targets=None if C is None else {"C": C, "loss": fc.loss, "lo": fc.lo, "hi": fc.hi})
    if args.json:
        print(dumps(out))
        return 0
    print("laws: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(fc.weights.items(), key=lambda kv: -kv[1])))
    print(f"method: {fc.method}")
    pct = f"{100 * fc.ci:g}%"
    for p in out["predictions"]:
        inputs = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p["inputs"].items())
        print(f"{inputs}  loss={p['loss']:.4f}  {pct} interval [{p['lo']:.4f}, {p['hi']:.4f}]")
    return 0


def off_fit_factor(text: str) -> float | None:
    """``--off-fit``: a factor above 1, or 'none'."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 1.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a factor above 1 (e.g. 2) or 'none'; got {text!r}")
    return value


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("forecast", help="forecast new runs' loss, laws weighted by how they extrapolate")
    add_table(p)
    p.add_argument("--at", required=True, metavar="TARGETS",
                   help="CSV/parquet of target inputs (N, D, ... as the laws need; for a curve table, whole "
                        "schedules as run_id, step, lr rows, one prediction per row); a loss column is ignored")
    p.add_argument("--law", default="auto",
                   help="'auto' (every loss law whose inputs the table has, weighted by rolling-origin "
                        "extrapolation; on a curve table with lr: multipower and lr_annealing, weighted by "
                        "held-out schedules), one law name, or a comma-separated list")
    p.add_argument("--ci", type=fraction, default=0.9, help="central probability of the intervals (default 0.9)")
    p.add_argument("--seed", type=int, default=0, help="seed for random starts of laws without a start grid")
    p.add_argument("--off-fit", type=off_fit_factor, default=2.0, metavar="FACTOR|none",
                   help="leave out runs whose loss lies more than FACTOR times off the fit of the others (runs that "
                        "diverged, rows of another ladder; at most a tenth of the runs, each named in a warning) and "
                        "forecast again without them (default 2; none keeps every run)")
    p.add_argument("--sweeps", choices=("best", "all"), default="best",
                   help="runs of one N and D trained at several learning rates (batch sizes, warmups: a tuning grid "
                        "left in the table): 'best' keeps each point's setting with the lowest loss, as a law "
                        "describes the tuned run (default); 'all' fits every run")
    p.add_argument("--plot", metavar="FILE", default=None,
                   help="also write the figure of the runs and the law with the largest weight (.png, .svg, .pdf)")
    add_json(p)
    p.set_defaults(func=cmd_forecast)


__all__ = ["add_commands", "cmd_forecast"]
