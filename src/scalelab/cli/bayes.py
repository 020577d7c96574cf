"""``scalelab bayes``: NUTS (or Laplace) posterior of a law, as one JSON object with ``--json``."""

from __future__ import annotations

import json
import sys


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_bayes(args) -> int:
    import warnings

    from scalelab import bayes
    from scalelab.cli import read_table

    table = read_table(args)
    if not 0 < args.ci < 1:
        raise ValueError(f"--ci must lie in (0, 1), got {args.ci}")
    groups = None if args.groups in (None, "none") else args.groups
    adjust = None if args.adjust in (None, "none") else args.adjust
    _err(f"{args.method} posterior of {args.law} on {len(table)} runs (likelihood={args.likelihood}, "
         f"groups={groups}{', adjust=' + adjust if adjust else ''}) ...")
    if args.method == "laplace":
        post = bayes.laplace(table, args.law, likelihood=args.likelihood, groups=groups, draws=args.samples * args.chains,
                             seed=args.seed, delta=args.delta, adjust=adjust)
    else:
        post = bayes.sample(table, args.law, likelihood=args.likelihood, groups=groups, chains=args.chains,
                            draws=args.samples, warmup=args.warmup or args.samples, seed=args.seed,
                            delta=args.delta, adjust=adjust)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post.check()
    for w in caught:
        _err(f"warning: {w.message}")
    out = post.to_json(args.ci)
    if args.save:
        post.save(args.save)
        _err(f"posterior saved to {args.save}")
    if args.json:
        print(json.dumps(out))
    else:
        adj = f", {adjust}-adjusted" if adjust else ""
        print(f"law        {out['law']}  ({args.method}{adj}, likelihood={args.likelihood}, {out['n_runs']} runs)")
        for k, v in out["params"].items():
            print(f"{k:<10} median {v['median']:.6g}  {100 * args.ci:g}% [{v['lo']:.6g}, {v['hi']:.6g}]")
        print(f"rhat_max   {out['rhat_max']:.4f}\ness_min    {out['ess_min']:.0f}\nseconds    {out['seconds']:.2f}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("bayes", help="posterior of a law's parameters (NUTS; --method laplace for the fast mode)")
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--likelihood", default="huber", choices=["huber", "normal", "student_t"])
    p.add_argument("--groups", default=None,
                   help="per-group random offsets: 'N' (model size, log10 N rounded to 0.1), a column, or 'none'")
    p.add_argument("--method", default="nuts", choices=["nuts", "laplace"])
    p.add_argument("--adjust", default=None, choices=["none", "sandwich"],
                   help="'sandwich': widen the (i.i.d.) posterior to the misspecification-robust sandwich "
                        "covariance (scalelab.bayes.sandwich)")
    p.add_argument("--ci", type=float, default=0.95, help="credible interval mass (equal-tailed)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--samples", type=int, default=1000, help="draws per chain after warm-up")
    p.add_argument("--warmup", type=int, default=0, help="warm-up steps per chain (default: --samples)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--delta", type=float, default=1e-3, help="Huber density threshold (standardised units)")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss runs first (Epoch drops 5 on the Chinchilla data)")
    p.add_argument("--save", metavar="PATH", help="save the posterior (ArviZ netCDF) for predict/allocate --posterior")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_bayes)
    _add_posterior_options(sub)


def _load_for(args):
    from scalelab import bayes, laws

    post = bayes.load(args.posterior)
    if args.law not in (None, "chinchilla") and laws.get(args.law).name != post.law:
        raise ValueError(f"{args.posterior} holds a posterior of law {post.law!r}, not {args.law!r}")
    if any(getattr(args, k, None) for k in ("params", "fit_json", "reference")):
        raise ValueError("give either --posterior or a point estimate (--params/--from/--reference), not both")
    return post


def _lists(d):
    import numpy as np

    return {k: np.atleast_1d(np.asarray(v, float)).tolist() for k, v in d.items()}


def predict_posterior(args) -> int:
    """``scalelab predict --posterior PATH``: loss with intervals of the curve and of a new run."""
    import numpy as np

    from scalelab import laws
    from scalelab.cli import law_inputs

    post = _load_for(args)
    law = laws.get(post.law)
    inputs = law_inputs(args, law)
    shape = np.broadcast_shapes(*(v.shape for v in inputs.values()))
    pred = _lists(post.predict(ci=args.ci, **inputs))
    cols = {k: np.broadcast_to(v, shape).tolist() for k, v in inputs.items()}
    if args.json:
        print(json.dumps({"law": law.name, "posterior": str(args.posterior), "ci": args.ci, "inputs": cols,
                          "loss": pred["median"], **pred}))
    else:
        for i in range(len(pred["median"])):
            print("  ".join(f"{k}={cols[k][i]:.4g}" for k in cols)
                  + f"  loss={pred['median'][i]:.5g} [{pred['lo'][i]:.5g}, {pred['hi'][i]:.5g}]"
                  + f"  new run [{pred['new_lo'][i]:.5g}, {pred['new_hi'][i]:.5g}]")
    return 0


def allocate_posterior(args) -> int:
    """``scalelab allocate --posterior PATH``: N_opt, D_opt, tokens/param with intervals."""
    from scalelab.cli import _floats

    post = _load_for(args)
    out = post.allocate(_floats(args.C), ci=args.ci)
    res = {k: _lists(v) for k, v in out.items() if k != "C"}
    C = out["C"].tolist()
    if args.json:
        print(json.dumps({"law": post.law, "posterior": str(args.posterior), "ci": args.ci, "C": C, **res}))
    else:
        for i, c in enumerate(C):
            n, d, t = res["N_opt"], res["D_opt"], res["tokens_per_param"]
            print(f"C={c:.3g} FLOPs  N_opt={n['median'][i]:.4g} [{n['lo'][i]:.4g}, {n['hi'][i]:.4g}]  "
                  f"D_opt={d['median'][i]:.4g} [{d['lo'][i]:.4g}, {d['hi'][i]:.4g}]  "
                  f"tokens/param={t['median'][i]:.3g} [{t['lo'][i]:.3g}, {t['hi'][i]:.3g}]")
    return 0


def _add_posterior_options(sub) -> None:
    """``--posterior PATH`` and ``--ci`` on the core ``predict`` and ``allocate`` commands."""
    for name in ("predict", "allocate"):
        p = sub.choices.get(name)
        if p is None:
            continue
        p.add_argument("--posterior", metavar="PATH",
                       help="a saved posterior (`scalelab bayes --save`): report credible intervals")
        p.add_argument("--ci", type=float, default=0.95, help="credible interval mass with --posterior")
