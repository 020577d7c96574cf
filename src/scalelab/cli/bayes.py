"""``scalelab bayes``: NUTS (or Laplace) posterior of a law, as one JSON object with ``--json``."""

from __future__ import annotations

from scalelab.cli.options import UsageError, add_json, add_law, add_table, count, dumps, err, fraction, law_rows, read_table

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"  # a netCDF-4 file (what `--save` writes) starts with these bytes


def positive(text: str) -> float:
    """An argparse type: a finite number > 0 (``--delta``)."""
    import argparse
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return v


def check_save(path) -> None:
    """``--save PATH`` is checked before sampling: its directory exists, and an existing PATH is a saved
    posterior (netCDF-4), never a user's other file (a run table, a figure) to be overwritten."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--save {str(p)!r} is a directory; give a file name such as posterior.nc")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise UsageError(f"--save {str(p)!r}: directory {str(p.parent)!r} does not exist")
    if p.exists():
        with open(p, "rb") as fh:
            if fh.read(8) != HDF5_MAGIC:
                raise UsageError(f"--save {str(p)!r} exists and is not a saved posterior (netCDF); it is left "
                                 f"untouched: choose another file name")

def cmd_bayes(args) -> int:
    import warnings

    from scalelab import bayes

    if args.save:
        check_save(args.save)
    table = read_table(args)
    groups = None if args.groups in (None, "none") else args.groups
    adjust = None if args.adjust == "none" else args.adjust
    rows, words = law_rows(table, args.law)
    # what the runs' design cannot determine (every run at one D, ...) is said before the chains run, not only after:
    # such a posterior mixes slowly (a 12-run table at one D ran 255 s, where others take 6-10)
    from scalelab import laws
    from scalelab.fit.identify import design_warnings

    law = laws.get(args.law)
    early = design_warnings(rows, law.inputs, (law,))
    for w in early:
        err(f"warning: {w}")
    err(f"{args.method} posterior of {args.law} on {words} (likelihood={args.likelihood}, "
        f"groups={groups}, adjust={adjust}) ...")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        if args.method == "laplace":
            post = bayes.laplace(table, args.law, likelihood=args.likelihood, groups=groups,
                                 draws=args.samples * args.chains, seed=args.seed, delta=args.delta, adjust=adjust)
        else:
            post = bayes.sample(table, args.law, likelihood=args.likelihood, groups=groups, chains=args.chains,
                                draws=args.samples, warmup=args.warmup or args.samples, seed=args.seed,
                                delta=args.delta, adjust=adjust, extend=args.extend)
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            err(f"warning: {w.message}")
    out = post.to_json(args.ci)
    # Identifiability, adjustment and convergence notes: on stderr and in --json "warnings".
    for msg in out["warnings"]:  # which adjustment `adjust=auto` chose is said, not warned (--strict ignores it)
        if msg not in early:  # said above; still in --json's warnings
            err(f"{'note' if msg.startswith('adjust=auto:') else 'warning'}: {msg}")
    if args.save:
        post.save(args.save)
        if not getattr(args, "save_is_temporary", False):
            err(f"posterior saved to {args.save}" + ("" if out["converged"] else
                                                      " (with its failed diagnostics: every later use warns)"))
    if args.json:
        print(dumps(out))
    else:
        adj = f", {out['adjustment']}-adjusted" if out["adjustment"] else ""
        print(f"law        {out['law']}  ({out['method']}{adj}, likelihood={args.likelihood}, {out['n_runs']} runs)")
        for k, v in out["params"].items():  # a quantity the method holds at its estimate (Laplace's s) has no interval
            print(f"{k:<10} {v['median']:.6g}  (held at its estimate: no interval)" if v["lo"] == v["hi"] else
                  f"{k:<10} median {v['median']:.6g}  {100 * args.ci:g}% [{v['lo']:.6g}, {v['hi']:.6g}]")
        if out["rhat_max"] is not None:  # Laplace draws are independent: no R-hat or ESS to report
            print(f"rhat_max   {out['rhat_max']:.4f}\ness_min    {out['ess_min']:.0f}")
        if not out["converged"]:
            print("converged  no (see the warnings)")
        if out.get("sampler"):  # how NUTS answered (chart, target acceptance, warm-up)
            print(f"sampler    {out['sampler']}")
        print(f"seconds    {out['seconds']:.2f}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("bayes", help="posterior of a law's parameters (NUTS; --method laplace for the fast mode)")
    add_table(p)
    add_law(p)
    p.add_argument("--likelihood", default="huber", choices=["huber", "normal", "student_t"])
    p.add_argument("--groups", default=None,
                   help="per-group random offsets: 'N' (model size, log10 N rounded to 0.1), a column, or 'none'")
    p.add_argument("--method", default="nuts", choices=["nuts", "laplace"])
    p.add_argument("--adjust", default="auto", choices=["auto", "none", "sandwich"],
                   help="'sandwich': map the (i.i.d.) posterior to the misspecification-robust sandwich "
                        "covariance (scalelab.bayes.sandwich); 'auto' (default): sandwich on i.i.d. models "
                        "from 20 runs per sampled parameter (120 for chinchilla), none below")
    p.add_argument("--ci", type=fraction, default=0.95, help="credible interval mass (equal-tailed)")
    p.add_argument("--chains", type=count(1), default=4,
                   help="Markov chains (one after another on a CPU, where that is fastest; in lock-step under vmap "
                        "on an accelerator)")
    p.add_argument("--samples", type=count(1), default=1000, help="draws per chain after warm-up")
    p.add_argument("--warmup", type=count(0), default=0, help="warm-up steps per chain (default: --samples)")
    p.add_argument("--extend", type=count(0), default=2,
                   help="rounds of running the chains on (each keeps twice the draws) while R-hat > 1.01 (0: never)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delta", type=positive, default=1e-3, help="Huber density threshold (standardised units)")
    p.add_argument("--save", metavar="PATH", help="save the posterior (ArviZ netCDF) for predict/allocate --posterior")
    add_json(p)
    p.set_defaults(func=cmd_bayes)
