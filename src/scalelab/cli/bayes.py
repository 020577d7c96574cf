"""``scalelab bayes``: NUTS (or Laplace) posterior of a law, as one JSON object with ``--json``."""

from __future__ import annotations

import json

from scalelab.cli.options import add_json, add_table, err, read_table

def cmd_bayes(args) -> int:
    import warnings

    from scalelab import bayes

    table = read_table(args)
    if not 0 < args.ci < 1:
        raise ValueError(f"--ci must lie in (0, 1), got {args.ci}")
    groups = None if args.groups in (None, "none") else args.groups
    adjust = None if args.adjust == "none" else args.adjust
    err(f"{args.method} posterior of {args.law} on {len(table)} runs (likelihood={args.likelihood}, "
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
    for msg in out["warnings"]:
        err(f"warning: {msg}")
    if args.save:
        post.save(args.save)
        err(f"posterior saved to {args.save}" + ("" if out["converged"] else
                                                  " (with its failed diagnostics: every later use warns)"))
    if args.json:
        print(json.dumps(out))
    else:
        adj = f", {out['adjustment']}-adjusted" if out["adjustment"] else ""
        print(f"law        {out['law']}  ({out['method']}{adj}, likelihood={args.likelihood}, {out['n_runs']} runs)")
        for k, v in out["params"].items():
            print(f"{k:<10} median {v['median']:.6g}  {100 * args.ci:g}% [{v['lo']:.6g}, {v['hi']:.6g}]")
        if out["rhat_max"] is not None:  # Laplace draws are independent: no R-hat or ESS to report
            print(f"rhat_max   {out['rhat_max']:.4f}\ness_min    {out['ess_min']:.0f}")
        if not out["converged"]:
            print("converged  no (see the warnings)")
        print(f"seconds    {out['seconds']:.2f}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("bayes", help="posterior of a law's parameters (NUTS; --method laplace for the fast mode)")
    add_table(p)
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--likelihood", default="huber", choices=["huber", "normal", "student_t"])
    p.add_argument("--groups", default=None,
                   help="per-group random offsets: 'N' (model size, log10 N rounded to 0.1), a column, or 'none'")
    p.add_argument("--method", default="nuts", choices=["nuts", "laplace"])
    p.add_argument("--adjust", default="auto", choices=["auto", "none", "sandwich"],
                   help="'sandwich': map the (i.i.d.) posterior to the misspecification-robust sandwich "
                        "covariance (scalelab.bayes.sandwich); 'auto' (default): sandwich on i.i.d. models "
                        "from 20 runs per sampled parameter (120 for chinchilla), none below")
    p.add_argument("--ci", type=float, default=0.95, help="credible interval mass (equal-tailed)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--samples", type=int, default=1000, help="draws per chain after warm-up")
    p.add_argument("--warmup", type=int, default=0, help="warm-up steps per chain (default: --samples)")
    p.add_argument("--extend", type=int, default=2,
                   help="rounds of running the chains on (each keeps twice the draws) while R-hat > 1.01 (0: never)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delta", type=float, default=1e-3, help="Huber density threshold (standardised units)")
    p.add_argument("--save", metavar="PATH", help="save the posterior (ArviZ netCDF) for predict/allocate --posterior")
    add_json(p)
    p.set_defaults(func=cmd_bayes)
