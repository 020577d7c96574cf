"""``scalelab laws``, ``predict`` and ``allocate``: the declared laws, and what a point estimate or a saved
posterior (``--posterior``, from ``scalelab bayes --save``) predicts and allocates."""

from __future__ import annotations

from scalelab.cli.options import (UsageError, add_json, carried_warnings, dumps, err, fraction, add_param_source,
                                  floats, law_inputs, params_from, read_fit_json)

# Every input some registered law reads (see `scalelab laws`); declared statically so that the parser
# is built without importing the laws.
INPUTS = ("N", "N_active", "D", "C", "E", "k", "S", "G", "U_D", "density", "loss", "M", "lr", "batch_size")
HELD = ("E", "k", "S", "G", "U_D", "density")  # inputs `allocate` holds fixed while it splits C into N and D


def cmd_laws(args) -> int:
    from scalelab import laws

    described = [law.describe() for law in laws.all_laws()]
    if args.json:
        print(dumps({"laws": described}))
    else:
        for d in described:
            print(f"{d['name']:<24} inputs={','.join(d['inputs']):<12} params={','.join(d['params'])}")
            print(f"{'':<24} {d['description']}")
    return 0


def _unread(args, law, options) -> None:
    """Refuse ``--E 8`` (etc.) for a law that does not read E: the answer would silently ignore it."""
    given = [n for n in options if getattr(args, n, None) is not None and n not in law.inputs]
    both = [n for n in ("D", "C") if n in law.inputs and getattr(args, n, None) is not None]
    if given and both and set(given) <= {"C", "D", "tokens_per_param"}:  # one amount given two ways, not a typo
        raise UsageError(f"{', '.join('--' + n for n in given)} given beside --{both[0]}: give each amount one way "
                         f"(--D, or --C with D = C / (6N)), not both, which could disagree")
    if given:
        raise UsageError(f"law {law.name!r} does not read {', '.join('--' + n for n in given)} (its inputs: "
                         f"{', '.join(law.inputs)}); drop the option, or pick a law that reads it (`scalelab laws`)")


def _derive(args, law) -> None:
    """``--N`` with ``--C`` for a law of N and D gives ``--D``, ``--N`` with ``--D`` for a law of compute alone gives
    ``--C``: derived as a run table derives them (`scalelab.runs.amounts.implied_amounts`), and said on stderr."""
    import numpy as np

    from scalelab.runs.amounts import implied_amounts

    made = next((c for c in ("D", "C") if c in law.inputs and getattr(args, c, None) is None), None)
    parts = {"D": ("N", "C"), "C": ("N", "D")}.get(made, ())
    if not parts or not all(getattr(args, n, None) is not None for n in parts):
        return
    values = {n: floats(getattr(args, n), f"--{n}") for n in parts}
    if len({v.size for v in values.values()} - {1}) > 1:
        raise UsageError(f"give one value or the same number of values to --{parts[0]} and --{parts[1]}")
    setattr(args, made, ",".join(repr(float(v)) for v in np.atleast_1d(implied_amounts(values)[made])))
    for n in parts:
        if n not in law.inputs:
            setattr(args, n, None)
    err(f"note: {made} derived as {'C / (6 N)' if made == 'D' else '6 N D'} from --{parts[0]} and --{parts[1]}")


def _held(args, law) -> dict:
    """Inputs besides N and D that allocation holds fixed (``--E 8`` ...), as floats."""
    if not {"N", "D"} <= set(law.inputs):
        raise UsageError(f"law {law.name!r} does not take N and D (its inputs: {', '.join(law.inputs)}): allocate "
                         f"splits a compute budget C = 6ND into N and D, for laws that read both")
    _unread(args, law, HELD)
    need = [n for n in law.inputs if n not in ("N", "D")]
    missing = [n for n in need if getattr(args, n, None) is None]
    if missing:
        raise UsageError(f"law {law.name!r} also needs {', '.join('--' + n for n in missing)} (held fixed while C "
                         f"is split into N and D)")
    out = {}
    for n in need:
        v = floats(getattr(args, n), f"--{n}")
        if v.size != 1:
            raise UsageError(f"--{n}: give one value to hold fixed, got {v.size}")
        out[n] = float(v[0])
    return out


def _point_estimate(args):
    """The law named by ``--law`` (else the one a ``--from`` file names, else chinchilla) and its natural parameters
    from ``--params``/``--from``/``--reference``. The warnings a ``--from`` fit carried (identifiability, no
    convergence) are said again on stderr and kept in ``args.warnings`` for the JSON: they hold for every use."""
    from scalelab import laws

    saved = read_fit_json(args.fit_json) if args.fit_json and not args.params and not args.reference else None
    law = laws.get(args.law or (saved or {}).get("law") or "chinchilla")
    args.warnings = carried_warnings(saved, args.fit_json)
    return law, params_from(args, law, saved)


def cmd_predict(args) -> int:
    import numpy as np

    if args.posterior:
        return predict_posterior(args)
    law, params = _point_estimate(args)
    _derive(args, law)
    _unread(args, law, INPUTS)
    inputs = law_inputs(args, law)
    value = np.atleast_1d(np.asarray(law(params, **inputs), float))
    shape = np.broadcast_shapes(*(v.shape for v in inputs.values()))
    cols = {k: np.broadcast_to(v, shape).tolist() for k, v in inputs.items()}
    target = law.target  # what the law predicts: the loss, or a batch size or learning rate (hyper-parameter laws)
    if not np.all(np.isfinite(value)):
        err(f"warning: {int(np.sum(~np.isfinite(value)))} of {len(value)} predictions are not finite numbers: check "
            f"the parameters ({', '.join(f'{k}={v:g}' for k, v in params.items())})")
    if args.json:
        print(dumps({"law": law.name, "params": params, "inputs": cols, "target": target, target: value.tolist(),
                     "warnings": args.warnings}))
    else:
        for i in range(len(value)):
            print("  ".join(f"{k}={cols[k][i]:.4g}" for k in cols) + f"  {target}={value[i]:.6g}")
    return 0


def cmd_allocate(args) -> int:
    import numpy as np

    from scalelab.optimal import allocate, allocation_warnings

    if args.posterior:
        return allocate_posterior(args)
    law, params = _point_estimate(args)
    out = allocate(law, params, floats(args.C, "--C"), _held(args, law) or None)
    out = {k: np.atleast_1d(v).tolist() for k, v in out.items()}
    said = allocation_warnings(out["C"], out["N_opt"], out["D_opt"])
    for w in said:
        err(f"warning: {w}")
    if args.json:
        print(dumps({"law": law.name, "params": params, **out, "warnings": args.warnings + said}))
    else:
        for i in range(len(out["C"])):
            print(f"C={out['C'][i]:.3g} FLOPs  N_opt={out['N_opt'][i]:.4g}  D_opt={out['D_opt'][i]:.4g} tokens  "
                  f"tokens/param={out['tokens_per_param'][i]:.3g}  loss={out['loss'][i]:.4f}")
    return 0


def _load_for(args):
    import warnings

    from scalelab import bayes, laws
    from scalelab.cli.options import err

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        post = bayes.load(args.posterior)
    # A posterior that failed its checks when drawn (R-hat, ESS) says so at every use (and in --json's warnings).
    args.warnings = [str(w.message) for w in caught]
    for w in args.warnings:
        err(f"warning: {w}")
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
    _derive(args, law)
    _unread(args, law, INPUTS)
    inputs = law_inputs(args, law)
    shape = np.broadcast_shapes(*(v.shape for v in inputs.values()))
    pred = _lists(post.predict(ci=args.ci, **inputs))
    cols = {k: np.broadcast_to(v, shape).tolist() for k, v in inputs.items()}
    if args.json:
        print(dumps({"law": law.name, "posterior": str(args.posterior), "ci": args.ci, "warnings": args.warnings,
                          "inputs": cols,
                          "loss": pred["median"], **pred}))
    else:
        for i in range(len(pred["median"])):
            print("  ".join(f"{k}={cols[k][i]:.4g}" for k in cols)
                  + f"  loss={pred['median'][i]:.5g} [{pred['lo'][i]:.5g}, {pred['hi'][i]:.5g}]"
                  + f"  new run [{pred['new_lo'][i]:.5g}, {pred['new_hi'][i]:.5g}]")
    return 0


def allocate_posterior(args) -> int:
    """``scalelab allocate --posterior PATH``: N_opt, D_opt, tokens/param with intervals."""
    from scalelab import laws
    from scalelab.optimal import allocation_warnings

    import numpy as np

    post = _load_for(args)
    with np.errstate(all="ignore"):  # a degenerate posterior is reported below, not as RuntimeWarnings
        out = post.allocate(floats(args.C, "--C"), ci=args.ci, extra=_held(args, laws.get(post.law)) or None)
    res = {k: _lists(v) for k, v in out.items() if k != "C"}
    C = out["C"].tolist()
    bad = [c for i, c in enumerate(C) if not all(np.isfinite(res[k][s][i]) for k in ("N_opt", "D_opt")
                                                 for s in ("median", "lo", "hi"))]
    if bad:
        raise ValueError(f"--posterior {args.posterior}: no finite compute-optimal allocation at C = "
                         f"{', '.join(f'{c:.3g}' for c in bad)} (a degenerate posterior: its draws give no optimum, "
                         f"e.g. alpha + beta near 0); check its diagnostics (`scalelab bayes`) and refit")
    said = allocation_warnings(C, res["N_opt"]["median"], res["D_opt"]["median"])
    for w in said:
        err(f"warning: {w}")
    if args.json:
        print(dumps({"law": post.law.name, "posterior": str(args.posterior), "ci": args.ci,
                          "warnings": args.warnings + said, "C": C, **res}))
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
    p.add_argument("--ci", type=fraction, default=0.95, help="credible interval mass with --posterior")


def add_commands(sub) -> None:
    p = sub.add_parser("laws", help="list the declared laws")
    add_json(p)
    p.set_defaults(func=cmd_laws)

    p = sub.add_parser("predict", help="predicted loss at given inputs")
    add_param_source(p)
    for name in INPUTS:
        p.add_argument(f"--{name}", help=f"input {name} (comma-separated for several; a count may read 7e9 or 7B)")
    _add_posterior(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("allocate", help="compute-optimal model size and tokens at compute C (C = 6ND)")
    add_param_source(p)
    p.add_argument("--C", required=True, help="training compute in FLOPs (comma-separated for several)")
    meaning = {"E": "experts", "k": "experts active per token", "S": "sparsity", "G": "granularity",
               "U_D": "unique tokens", "density": "data density"}
    for name in HELD:
        p.add_argument(f"--{name}", help=f"{meaning.get(name, name)} ({name}), held fixed while C is split, for laws "
                                         f"that read it")
    _add_posterior(p)
    p.set_defaults(func=cmd_allocate)
