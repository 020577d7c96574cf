"""Command-line interface: a thin layer over the Python API.

``--json`` prints exactly one JSON object on stdout; progress and warnings go
to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def read_table(args):
    """The run table named by ``args.data``, less ``--drop-highest-loss`` rows; notes go to stderr.

    Shared by every command that reads a run table.
    """
    import scalelab

    table = scalelab.read(args.data)
    if getattr(args, "drop_highest_loss", 0):
        table = table.drop_highest_loss(args.drop_highest_loss)
    for note in table.notes:
        _err(f"note: {note}")
    return table


def law_inputs(args, law) -> dict:
    """The law's inputs from ``--N``, ``--D``, ... options (comma-separated numbers)."""
    inputs = {}
    for name in law.inputs:
        value = getattr(args, name, None)
        if value is None:
            raise ValueError(f"law {law.name!r} needs --{name}")
        inputs[name] = _floats(value)
    return inputs


def _floats(text: str) -> np.ndarray:
    """'1e9,2e9' or '1e9' -> array."""
    try:
        return np.array([float(t) for t in str(text).split(",") if t.strip()], float)
    except ValueError as err:
        raise SystemExit(f"error: could not read numbers from {text!r}: {err}")


def _params_from(args, law) -> dict:
    sources = [s for s in (args.params, args.fit_json, args.reference) if s]
    if len(sources) != 1:
        raise SystemExit("error: give exactly one of --params JSON, --from FIT.json, --reference SOURCE")
    if args.reference:
        if args.reference not in law.reference:
            raise SystemExit(f"error: law {law.name!r} has no reference {args.reference!r}; "
                             f"known: {sorted(law.reference)}")
        return dict(law.reference[args.reference])
    if args.fit_json:
        obj = json.loads(Path(args.fit_json).read_text())
        if obj.get("law") not in (None, law.name) and obj.get("law") not in law.aliases:
            raise SystemExit(f"error: {args.fit_json} holds a fit of law {obj.get('law')!r}, not {law.name!r}")
        params = obj["params"]
    else:
        params = json.loads(args.params)
    params = {k: (v["median"] if isinstance(v, dict) else v) for k, v in params.items()}
    missing = [p for p in law.params if p not in params]
    if missing:
        raise SystemExit(f"error: parameters {missing} missing for law {law.name!r}")
    return {k: float(params[k]) for k in law.params}


def _add_param_source(p) -> None:
    p.add_argument("--law", default="chinchilla", help="law name (see `scalelab laws`)")
    p.add_argument("--params", help='natural parameters as JSON, e.g. \'{"E": 1.8, ...}\'')
    p.add_argument("--from", dest="fit_json", help="a saved `scalelab fit --json` output")
    p.add_argument("--reference", help="a published reference of the law (e.g. hoffmann2022, epoch2024)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def cmd_fit(args) -> int:
    import scalelab

    table = read_table(args)
    fixed = {}
    for item in args.fix or []:
        name, _, value = item.partition("=")
        fixed[name] = float(value)
    starts = args.starts if args.starts in ("auto", "grid") else int(args.starts)
    _err(f"fitting {args.law} to {len(table)} runs ({args.objective}, delta={args.delta}, starts={args.starts}) ...")
    res = scalelab.fit(table, args.law, objective=args.objective, delta=args.delta, starts=starts,
                       seed=args.seed, fixed=fixed or None)
    if not res.converged:
        _err("warning: the best start did not meet the convergence test; see `n_iter` and try more iterations")
    _err(f"done in {res.seconds:.2f} s (best of {res.n_starts} starts: #{res.best_start}, {res.n_iter} iterations)")
    out = res.to_json()
    if args.bootstrap:
        from scalelab.fit import variants
        from scalelab.fit.many import fit_many, percentile_intervals

        boot = fit_many(table, args.law, variants.bootstrap(table, args.bootstrap, seed=args.seed, by=args.bootstrap_by),
                        objective=args.objective, seed=args.seed, progress=True)
        out["intervals"] = percentile_intervals(boot, list(res.params), ci=args.ci)
        bad = int((~boot["converged"]).sum())
        if bad:
            _err(f"warning: {bad} of {len(boot)} bootstrap refits did not converge")
        out["seconds"] = res.seconds + boot.attrs["seconds"]
        out["compile_seconds"] = res.compile_seconds + boot.attrs.get("compile_seconds", 0.0)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"law        {res.law}")
        for k, v in res.params.items():
            print(f"{k:<10} {v:.6g}")
        print(f"objective  {res.objective:.10g}  ({res.objective_kind}, delta={res.delta})")
        print(f"runs       {res.n_runs}")
        print(f"converged  {res.converged}")
        for k, (lo, hi) in out.get("intervals", {}).items():
            print(f"{k:<10} {100 * args.ci:g}% bootstrap interval [{lo:.6g}, {hi:.6g}]")
    return 0


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


def cmd_predict(args) -> int:
    from scalelab import laws

    if getattr(args, "posterior", None):  # a saved posterior (scalelab bayes --save): intervals
        from scalelab.bayes.cli import predict_posterior

        return predict_posterior(args)
    law = laws.get(args.law)
    params = _params_from(args, law)
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
    from scalelab import laws
    from scalelab.optimal import allocate

    if getattr(args, "posterior", None):
        from scalelab.bayes.cli import allocate_posterior

        return allocate_posterior(args)
    law = laws.get(args.law)
    params = _params_from(args, law)
    out = allocate(law.name, params, _floats(args.C))
    out = {k: np.atleast_1d(v).tolist() for k, v in out.items()}
    if args.json:
        print(json.dumps({"law": law.name, "params": params, **out}))
    else:
        for i in range(len(out["C"])):
            print(f"C={out['C'][i]:.3g} FLOPs  N_opt={out['N_opt'][i]:.4g}  D_opt={out['D_opt'][i]:.4g} tokens  "
                  f"tokens/param={out['tokens_per_param'][i]:.3g}  loss={out['loss'][i]:.4f}")
    return 0


def cmd_demo(args) -> int:
    from scalelab import demo

    return demo.main(json_out=args.json)


COMMAND_MODULES = ("scalelab.fit.cli", "scalelab.compare", "scalelab.bayes.cli", "scalelab.design_cli",
                   "scalelab.proxy.cli", "scalelab.cache_cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalelab", description="Differentiable scaling laws in JAX.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fit", help="fit a law to a run table (CSV/parquet)")
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--objective", default="huber", choices=["huber", "mse"])
    p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals")
    p.add_argument("--starts", default="auto",
                   help="'auto' (variable projection for laws with linear parameters, else the grid), "
                        "'grid' (the law's grid) or a number of random starts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter fixed (repeatable)")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss runs first (Epoch drops 5 on the Chinchilla data)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="add percentile intervals from B bootstrap refits (one compiled fit_many)")
    p.add_argument("--bootstrap-by", default=None, metavar="COLUMN",
                   help="resample whole groups of runs (e.g. family) instead of single runs")
    p.add_argument("--ci", type=float, default=0.95, help="interval level for --bootstrap")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("laws", help="list the declared laws")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_laws)

    p = sub.add_parser("predict", help="predicted loss at given inputs")
    _add_param_source(p)
    for name in ("N", "D", "C", "E", "k", "S", "G", "U_D", "M", "lr", "batch_size"):
        p.add_argument(f"--{name}", help=f"input {name} (comma-separated for several)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("allocate", help="compute-optimal model size and tokens at compute C (C = 6ND)")
    _add_param_source(p)
    p.add_argument("--C", required=True, help="training compute in FLOPs (comma-separated for several)")
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("demo", help="fit and forecast on the built-in run table")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    # Commands contributed by other parts of the package: each module defines
    # add_commands(subparsers), adding subcommands whose `func(args) -> int`.
    import importlib

    for module in COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name is not None and module.startswith(err.name):
                continue  # that part of the package is not there
            raise
        mod.add_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from scalelab import cache
    from scalelab.runs import RunTableError

    cache.enable()  # compile once per machine (SCALELAB_CACHE_DIR moves it, =off turns it off)

    try:
        return int(args.func(args) or 0)
    except (RunTableError, ValueError, KeyError, FileNotFoundError, NotImplementedError) as err:
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        _err(f"error: {msg}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
