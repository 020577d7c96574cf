"""``scalelab schedule``: optimise a learning-rate schedule through a fitted curve law.

    scalelab fit curves.csv --law multipower --json > fit.json
    scalelab schedule --from fit.json --steps 24000 --peak-lr 3e-4 --warmup 2160 --out schedule.csv

The CSV holds ``step, lr`` rows (the learning rate of each update; warm-up from 0 at step 0 is implied, see
`scalelab.laws.schedule`; with ``--every K`` a row every K steps plus the rows where the schedule bends, so that
read back it is the optimised schedule), readable by ``scalelab proxy`` and by `scalelab.curves.predict_table`,
and a ``written_by`` column (`MARKER`): an existing --out is replaced only when every row carries it, so a
schedule written by hand (or by an older scalelab) is refused and left untouched. The predicted final losses
of the optimised schedule, cosine and WSD (same steps, peak, warm-up and --min-lr: they decay to max(min-lr,
0.1 x peak)) go to stderr, or to stdout as one JSON object with ``--json`` (its ``notes`` say when --min-lr
raised the baselines' end, or when a baseline beat the optimiser and was written instead, ``source``). Its
``warnings`` (also on stderr, counted by ``--strict``) are the saved fit's own (`options.carried_warnings`, as
``predict --from`` says them) and the schedule's: a decay below the lowest lr any fitted run reached after its peak,
where the law is extrapolated (`scalelab.curves.optimize.below_fitted`). --min-lr stays 0 by default, the law's own
optimum, rather than that lowest lr: the warning names it, to give as --min-lr.
"""

from __future__ import annotations

import sys

from scalelab.cli.options import count, dumps

# Every row of a written schedule carries it (as a sweep's rows carry `scalelab.proxy.sweep.MARKER`): an existing
# --out is replaced only when it does, so a user's own ``step, lr`` schedule is never overwritten. Readers of the
# file (``proxy sweep --schedule``, `scalelab.curves.predict_table`) read ``step, lr`` and leave it alone.
MARKER = ("written_by", "scalelab schedule")


def cmd_schedule(args) -> int:
    from scalelab import curves

    from scalelab.cli.options import UsageError, carried_warnings, check_own_output, err, read_fit_json

    check_own_output(args.out, ("step", "lr"), "--out", "a schedule `scalelab schedule` wrote", exact=True,
                     marker=MARKER)
    if not 0 <= args.warmup < args.steps:
        raise UsageError(f"--warmup {args.warmup}: give 0 <= --warmup < --steps ({args.steps})")
    if not 0 <= args.min_lr < args.peak_lr:
        raise UsageError(f"--min-lr {args.min_lr:g} and --peak-lr {args.peak_lr:g}: give 0 <= --min-lr < --peak-lr")
    fit = read_fit_json(args.fit_json)
    if "law" not in fit:
        raise UsageError(f"--from {args.fit_json}: names no law; give a `scalelab fit CURVES.csv --law multipower "
                         f"--json` output")
    res = curves.optimize_schedule(fit, args.steps, args.peak_lr, args.warmup, min_lr=args.min_lr,
                                   knots=args.knots, iterations=args.iterations)
    res.table(every=args.every).assign(**{MARKER[0]: MARKER[1]}).to_csv(args.out, index=False)
    # the saved fit's warnings hold for its schedule too (as for predict/allocate --from), then the schedule's own
    said = carried_warnings(fit, args.fit_json)
    for w in res.warnings:
        err(f"warning: {w}")
    out = {**res.to_json(), "warnings": said + list(res.warnings), "out": str(args.out)}
    if args.json:
        print(dumps(out))
    else:
        p = res.predicted
        print(f"wrote {args.out}: {res.steps} steps, peak {res.peak_lr:g}, warm-up {res.warmup}", file=sys.stderr)
        print(f"predicted final loss ({res.law.name}): optimised {p['optimised']:.5f}, cosine {p['cosine']:.5f} "
              f"(gain {res.gain_vs_cosine:.5f}), wsd {p['wsd']:.5f} (gain {res.gain_vs_wsd:.5f}), "
              f"constant {p['constant']:.5f}", file=sys.stderr)
        for note in res.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("schedule", help="optimise an LR schedule through a fitted curve law (multipower, lr_annealing)")
    p.add_argument("--from", dest="fit_json", required=True, help="a saved `scalelab fit --json` of a curve law")
    p.add_argument("--steps", type=count(1), required=True, help="total optimizer updates")
    p.add_argument("--peak-lr", type=float, required=True, help="learning rate at the end of warm-up (the maximum)")
    p.add_argument("--warmup", type=count(0), default=0, help="linear warm-up steps from lr 0 (default 0)")
    p.add_argument("--min-lr", type=float, default=0.0,
                   help="the schedule stays above this (default 0: the law's own optimum, which may decay below any "
                        "fitted run; a warning then names the fitted runs' lowest lr after their peak, the value to "
                        "give here to stay where the fit was measured)")
    p.add_argument("--knots", type=count(2), default=512,
                   help="schedule knots after warm-up (linear between; default 512)")
    p.add_argument("--iterations", type=count(1), default=3000, help="Adam iterations (default 3000)")
    p.add_argument("--every", type=count(1), default=1,
                   help="write a row every this many steps (default 1: every step), the last, and the rows where the "
                        "schedule bends (end of warm-up, decay), so the file read back is the optimised schedule")
    p.add_argument("--out", required=True, help="schedule CSV to write (step, lr)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_schedule)
