"""`scalelab fit-many`: fit a table of variants, one result row per variant."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def cmd_fit_many(args) -> int:
    from scalelab.fit import variants
    from scalelab.fit.many import fit_many

    from scalelab.cli import read_table

    table = read_table(args)
    spec_path = Path(args.variants)
    if not spec_path.exists():
        raise FileNotFoundError(f"{spec_path}: no such variants file")
    spec = pd.read_json(spec_path) if spec_path.suffix == ".json" else (
        pd.read_parquet(spec_path) if spec_path.suffix in (".parquet", ".pq") else pd.read_csv(spec_path))
    groups = variants.from_table(table, spec)
    frames = []
    for law, vs in groups.items():  # one compiled program per law
        print(f"fit_many: {len(vs)} variants of {law} on {len(table)} runs", file=sys.stderr)
        frames.append(fit_many(table, law, vs, starts=args.starts if args.starts == "auto" else
                               (args.starts if args.starts == "grid" else int(args.starts)), progress=True))
    out = pd.concat(frames, ignore_index=True).sort_values("row").reset_index(drop=True)
    dest = Path(args.out)
    if dest.suffix in (".parquet", ".pq"):
        out.to_parquet(dest, index=False)
    else:
        out.to_csv(dest, index=False)
    print(f"wrote {len(out)} rows to {dest}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("fit-many", help="fit a table of variants (law, filter, delta, fixed) in one compiled call per law")
    p.add_argument("data", help="run table: CSV or parquet")
    p.add_argument("--variants", required=True,
                   help="CSV/JSON/parquet, one row per variant: law, filter (pandas query), delta, fixed ('alpha=0.3;beta=0.3'), name")
    p.add_argument("--out", required=True, help="result file (.csv or .parquet), one row per variant")
    p.add_argument("--starts", default="auto", help="'auto' (warm start from the full fit), 'grid' or a number")
    p.add_argument("--drop-highest-loss", type=int, default=0, metavar="K")
    p.set_defaults(func=cmd_fit_many)
