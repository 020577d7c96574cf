"""The columns a user names (``--map loss=val_loss``; ``read(..., columns={...})``): renamed to the canonical names
before a table is read, a count named with its unit multiplied by it."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from scalelab.runs.columns import NUMERIC, TEXT, RunTableError, unit_alias, unit_scale


def map_columns(df: pd.DataFrame, columns: Mapping[str, str] | None,
                source: str = "<DataFrame>") -> tuple[pd.DataFrame, list[str]]:
    """Rename ``{canonical: column in the table}`` (``{"loss": "loss_validation", "E": "num_experts"}``); returns
    ``(df, notes)``.

    A canonical column that the mapping displaces (``{"loss": "val_loss"}`` in a table that has ``loss``)
    is kept, renamed ``loss_unmapped``: an extra column, not read. A count mapped from a column named with its unit
    (``{"N": "params_M"}``, `unit_alias`) is multiplied by it, as when it is read unmapped."""
    if not columns:
        return df, []
    unknown = [k for k in columns if k not in NUMERIC and k not in TEXT]
    if unknown:
        raise RunTableError(f"{source}: cannot map to {unknown}: known columns are {list(NUMERIC + TEXT)}")
    missing = [v for v in columns.values() if v not in df.columns]
    if missing:
        raise RunTableError(f"{source}: mapped column(s) {missing} not in the table; columns are {list(df.columns)}")
    aside = {k: f"{k}_unmapped" for k, v in columns.items() if k in df.columns and k != v and k not in columns.values()}
    if any(a in df.columns for a in aside.values()):
        raise RunTableError(f"{source}: the table already has column(s) {list(aside)} and {list(aside.values())}; "
                            "drop or rename them first")
    units = {k: unit_alias(v) for k, v in columns.items()}
    units = {k: u[1] for k, u in units.items() if u is not None and u[0] == k}
    out = df.rename(columns=aside).rename(columns={v: k for k, v in columns.items()})
    scaled = {k: unit_scale(out[k], k, f, columns[k]) for k, f in units.items()}
    if scaled:
        out = out.assign(**{k: v for k, (v, _) in scaled.items()})
    return out, [said for _, said in scaled.values()]


__all__ = ["map_columns"]
