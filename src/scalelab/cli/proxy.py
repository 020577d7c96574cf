"""``scalelab proxy …``: list plans, run a sweep, show a run table.

Progress and notes go to stderr; ``--json`` prints one object on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from scalelab.cli.options import count, dumps, err

__all__ = ["add_commands"]


def _summary(doc: str | None) -> str:
    """A plan docstring's first paragraph on one line (whole sentences, never cut mid-line)."""
    para = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in para.splitlines())


def _cmd_plans(args) -> int:
    from scalelab.proxy.plans import PLANS

    rows = []
    for name, fn in PLANS.items():
        runs = fn(0)
        doc = _summary(fn.__doc__)
        rows.append({"name": name, "runs": len(runs), "description": doc})
    if args.json:
        print(dumps(rows))
    else:
        for r in rows:
            print(f"{r['name']:<15} {r['runs']:>4} runs  {r['description']}")
    return 0


def _cmd_sweep(args) -> int:
    from scalelab.proxy.plans import get_plan
    from scalelab.proxy.sweep import curves_path, parse_shard, shard_path, sweep

    shard = parse_shard(args.shard)
    specs = get_plan(args.plan, seed=args.seed)
    if args.schedule:  # a schedule longer than the runs is cut at their last step: its decay may never be reached
        from scalelab.proxy.train import schedule_points

        last = float(schedule_points(args.schedule)[0][-1])  # a faulty CSV is refused here, before any run
        longest = max(s.train.steps(s.model.seq_len) for s in specs)
        if last > 1.01 * longest:
            err(f"warning: the schedule {args.schedule} runs to step {last:g}, and the plan's runs take at most "
                f"{longest} steps: each run follows only its first steps (what comes later, a decay included, is "
                f"cut); write the schedule for the runs' length (scalelab schedule --steps {longest})")
    table = sweep(specs, args.out, shard=shard, progress=not args.no_progress, limit=args.limit,
                  curve_every=args.curve_every, schedule=args.schedule)
    mine = len(specs[shard[0]::shard[1]])
    summary = {"plan": args.plan, "shard": f"{shard[0]}/{shard[1]}", "file": str(shard_path(args.out, shard)),
               "runs_in_shard": mine, "runs_finished_in_plan": int(len(table)), "runs_in_plan": len(specs)}
    if args.curve_every:
        summary["curves_file"] = str(shard_path(curves_path(args.out), shard))
    if args.json:
        print(dumps(summary))
    else:
        wrote = (f"shard {summary['shard']} wrote {summary['file']}" if Path(summary["file"]).exists() else
                 f"shard {summary['shard']} has written no run yet ({summary['file']} not created)")
        print(f"{summary['runs_finished_in_plan']}/{len(specs)} runs of plan {args.plan!r} finished; {wrote}",
              file=sys.stderr)
    return 0


def _cmd_show(args) -> int:
    from scalelab.proxy.sweep import read_runs

    try:
        df = read_runs(args.paths)
    except ValueError as e:  # pandas' parser errors do not say which file
        from scalelab.cli.options import UsageError

        raise UsageError(f"{', '.join(args.paths)}: could not read the run files ({e})") from None
    if df.empty or "loss" not in df:  # a file of other things, or a sweep that finished no run yet
        from scalelab.cli.options import UsageError

        raise UsageError(f"{', '.join(args.paths)}: no runs to show (a run table has one row per run and a 'loss' "
                         f"column; this has {len(df)} rows and columns {list(df.columns)})")
    cols = [c for c in ("family", "N", "N_total", "N_active", "D", "C", "loss", "lr", "batch_size", "ngram_repeat",
                        "run_id") if c in df]
    if args.json:
        print(df.to_json(orient="records"))
    else:
        print(df[cols].to_string(index=False))
    return 0


def add_commands(subparsers) -> None:
    """Add the ``proxy`` command (subcommands ``plans``, ``sweep``, ``show``) to an argparse
    subparsers object; each leaf sets ``func(args) -> int``."""
    proxy = subparsers.add_parser("proxy", help="train small dense/MoE proxy models and write run tables")
    sub = proxy.add_subparsers(dest="proxy_command", required=True)

    p = sub.add_parser("plans", help="list the named sweep plans")
    p.add_argument("--json", action="store_true", help="print one JSON list on stdout")
    p.set_defaults(func=_cmd_plans)

    p = sub.add_parser("sweep", help="run a named plan, resumably (finished runs are skipped)")
    p.add_argument("--plan", required=True, help="plan name (see `scalelab proxy plans`)")
    p.add_argument("--out", required=True, help="run table to append to (.csv or .parquet)")
    p.add_argument("--shard", default=None, help="i/n: run every n-th run from i, into <out stem>.shard<i>of<n>")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (init, data sample, order)")
    p.add_argument("--limit", type=count(0), default=None, help="stop after this many new runs")
    p.add_argument("--curve-every", type=count(0), default=0, metavar="K",
                   help="also log every run's curve (step, lr, train_loss, held-out loss) every K updates to "
                        "<out stem>.curves<suffix>: a curve table for the curve laws (default 0: off)")
    p.add_argument("--schedule", default=None, metavar="FILE",
                   help="CSV of step, lr rows replacing every run's schedule (piecewise linear, linear warm-up "
                        "from 0; e.g. the output of `scalelab schedule`); run ids get a schedule suffix")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("show", help="print a run table (merging shard files)")
    p.add_argument("paths", nargs="+", help="run files or globs")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    p.set_defaults(func=_cmd_show)
