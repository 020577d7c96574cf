"""Option groups shared by the commands, declared once, and the helpers that read them.

Nothing here imports JAX or scalelab's numerical modules at import time: the parser is built
and the arguments are checked before any of them loads (``scalelab --help`` answers at once).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def err(msg: str) -> None:
    """Progress, notes and warnings: stderr (stdout carries only the command's result)."""
    print(msg, file=sys.stderr, flush=True)


def starts_value(text: str):
    """``--starts``: ``grid`` (the law's grid), ``auto`` (warm start, fit-many) or a number of random starts."""
    if text in ("grid", "auto"):
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'grid', 'auto' or a whole number of starts") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"the number of starts must be at least 1, got {n}")
    return n


def add_table(p) -> None:
    """The run table positional and ``--drop-highest-loss`` (read back by `read_table`)."""
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss runs first (Epoch drops 5 on the Chinchilla data)")


def add_fit(p, *, starts="grid", fix: bool = True, seed: bool = False) -> None:
    """``--law``, ``--objective``, ``--delta``, ``--starts`` (and ``--fix``, ``--seed``) of a point fit."""
    p.add_argument("--law", default="chinchilla", help="law name (see `scalelab laws`)")
    p.add_argument("--objective", default="huber", choices=["huber", "mse"])
    p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals")
    p.add_argument("--starts", type=starts_value, default=starts,
                   help="'grid' (the law's grid) or a number of random starts" + (" ('auto': warm start from the "
                                                                                    "full fit)" if starts == "auto" else ""))
    if fix:
        p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter fixed (repeatable)")
    if seed:
        p.add_argument("--seed", type=int, default=0)


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def read_table(args):
    """The run table named by ``args.data``, less ``--drop-highest-loss`` rows; notes go to stderr."""
    from scalelab.runs import read

    table = read(args.data)
    if getattr(args, "drop_highest_loss", 0):
        table = table.drop_highest_loss(args.drop_highest_loss)
    for note in table.notes:
        err(f"note: {note}")
    return table


def fixed_from(items) -> dict | None:
    """``--fix NAME=VALUE`` (repeatable) as ``{name: value}``, or None when none is given."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--fix {item!r}: write NAME=VALUE")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--fix {item!r}: {value!r} is not a number") from None
    return out or None


def floats(text: str):
    """'1e9,2e9' or '1e9' -> float64 NumPy array."""
    import numpy as np

    try:
        return np.array([float(t) for t in str(text).split(",") if t.strip()], float)
    except ValueError as e:
        raise SystemExit(f"error: could not read numbers from {text!r}: {e}")


def law_inputs(args, law) -> dict:
    """The law's inputs from ``--N``, ``--D``, ... options (comma-separated numbers)."""
    inputs = {}
    for name in law.inputs:
        value = getattr(args, name, None)
        if value is None:
            raise ValueError(f"law {law.name!r} needs --{name}")
        inputs[name] = floats(value)
    return inputs


def add_param_source(p) -> None:
    """Where a point estimate comes from: ``--params``, ``--from FIT.json`` or ``--reference``."""
    p.add_argument("--law", default="chinchilla", help="law name (see `scalelab laws`)")
    p.add_argument("--params", help='natural parameters as JSON, e.g. \'{"E": 1.8, ...}\'')
    p.add_argument("--from", dest="fit_json", help="a saved `scalelab fit --json` output")
    p.add_argument("--reference", help="a published reference of the law (e.g. hoffmann2022, epoch2024)")
    add_json(p)


def params_from(args, law) -> dict:
    """Natural parameters from exactly one of ``--params``, ``--from``, ``--reference``."""
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


__all__ = ["err", "starts_value", "add_table", "add_fit", "add_json", "read_table", "fixed_from", "floats",
           "law_inputs", "add_param_source", "params_from"]
