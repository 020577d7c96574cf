"""``scalelab laws``, ``predict`` and ``allocate``: the declared laws, and what a point estimate or a saved
posterior (``--posterior``, from ``scalelab bayes --save``) predicts and allocates."""

from __future__ import annotations

import json

from scalelab.cli.options import add_json, add_param_source, floats, law_inputs, params_from


def cmd_laws(args) -> int:
    from scalelab import laws

    described = [law.describe() for law in laws.all_laws()]
    if args.json:
        print(json.dumps({"laws": described}))
    else:
        for d in described:
            print(f"{d['name']:<24} inputs={','.join(d['inputs']):<12} params={','.join(d['params'])}")
            print(f"{'':<24} {d['description']}")
    return 0


def _point_estimate(args):
    """The law named by ``--law`` and its natural parameters from ``--params``/``--from``/``--reference``."""
    from scalelab import laws

    law = laws.get(args.law)
    return law, params_from(args, law)


def cmd_predict(args) -> int:
    import numpy as np

    if args.posterior:
        return predict_posterior(args)
    law, params = _point_estimate(args)
    inputs = law_inputs(args, law)
    loss = np.atleast_1d(np.asarray(law(params, **inputs), float))
    shape = np.broadcast_shapes(*(v.shape for v in inputs.values()))
    cols = {k: np.broadcast_to(v, shape).tolist() for k, v in inputs.items()}
    if args.json:
        print(json.dumps({"law": law.name, "params": params, "inputs": cols, "loss": loss.tolist()}))
    else:
        for i in range(len(loss)):
            print("  ".join(f"{k}={cols[k][i]:.4g}" for k in cols) + f"  loss={loss[i]:.6g}")
    return 0


def cmd_allocate(args) -> int:
    import numpy as np

    from scalelab.optimal import allocate

    if args.posterior:
        return allocate_posterior(args)
    law, params = _point_estimate(args)
    out = allocate(law, params, floats(args.C))
    out = {k: np.atleast_1d(v).tolist() for k, v in out.items()}
    if args.json:
        print(json.dumps({"law": law.name, "params": params, **out}))
    else:
        for i in range(len(out["C"])):
            print(f"C={out['C'][i]:.3g} FLOPs  N_opt={out['N_opt'][i]:.4g}  D_opt={out['D_opt'][i]:.4g} tokens  "
                  f"tokens/param={out['tokens_per_param'][i]:.3g}  loss={out['loss'][i]:.4f}")
    return 0


def _load_for(args):
    from scalelab import bayes, laws

    post = bayes.load(args.posterior)
    if args.law not in (None, "chinchilla") and laws.get(args.law).name != post.law.name:
        raise ValueError(f"{args.posterior} holds a posterior of law {post.law.name!r}, not {args.law!r}")
    if any(getattr(args, k, None) for k in ("params", "fit_json", "reference")):
        raise ValueError("give either --posterior or a point estimate (--params/--from/--reference), not both")
    return post


def _lists(d):
    import numpy as np

    return {k: np.atleast_1d(np.asarray(v, float)).tolist() for k, v in d.items()}


def predict_posterior(args) -> int:
    """``scalelab predict --posterior PATH``: loss with intervals of the curve and of a new run."""
    import numpy as np

    post = _load_for(args)
    law = post.law
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
    post = _load_for(args)
    out = post.allocate(floats(args.C), ci=args.ci)
    res = {k: _lists(v) for k, v in out.items() if k != "C"}
    C = out["C"].tolist()
    if args.json:
        print(json.dumps({"law": post.law.name, "posterior": str(args.posterior), "ci": args.ci, "C": C, **res}))
    else:
        for i, c in enumerate(C):
            n, d, t = res["N_opt"], res["D_opt"], res["tokens_per_param"]
            print(f"C={c:.3g} FLOPs  N_opt={n['median'][i]:.4g} [{n['lo'][i]:.4g}, {n['hi'][i]:.4g}]  "
                  f"D_opt={d['median'][i]:.4g} [{d['lo'][i]:.4g}, {d['hi'][i]:.4g}]  "
                  f"tokens/param={t['median'][i]:.3g} [{t['lo'][i]:.3g}, {t['hi'][i]:.3g}]")
    return 0


def _add_posterior(p) -> None:
    p.add_argument("--posterior", metavar="PATH",
                   help="a saved posterior (`scalelab bayes --save`): report credible intervals")
    p.add_argument("--ci", type=float, default=0.95, help="credible interval mass with --posterior")


def add_commands(sub) -> None:
    p = sub.add_parser("laws", help="list the declared laws")
    add_json(p)
    p.set_defaults(func=cmd_laws)

    p = sub.add_parser("predict", help="predicted loss at given inputs")
    add_param_source(p)
    for name in ("N", "D", "C", "E", "k", "S", "G", "U_D", "M", "lr", "batch_size"):
        p.add_argument(f"--{name}", help=f"input {name} (comma-separated for several)")
    _add_posterior(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("allocate", help="compute-optimal model size and tokens at compute C (C = 6ND)")
    add_param_source(p)
    p.add_argument("--C", required=True, help="training compute in FLOPs (comma-separated for several)")
    _add_posterior(p)
    p.set_defaults(func=cmd_allocate)
