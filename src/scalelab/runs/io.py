"""Run tables on disk: CSV or parquet, chosen by the file's suffix here and nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from scalelab.runs.table import RunTable, RunTableError, from_dataframe

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a parquet file (by suffix); anything else is read and written as CSV."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """A plain DataFrame from parquet, JSON (``.json``, records) or CSV, by suffix (e.g. a variants table)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if is_parquet(p):
        return pd.read_parquet(p)
    return pd.read_json(p) if p.suffix.lower() == ".json" else pd.read_csv(p)


def read(path: str | os.PathLike | pd.DataFrame | RunTable) -> RunTable:
    """Read a run table from CSV or parquet (by suffix), or validate a DataFrame.

    A `RunTable` passes through unchanged.
    """
    if isinstance(path, RunTable):
        return path
    if isinstance(path, pd.DataFrame):
        return from_dataframe(path)
    p = Path(path)
    if not p.exists():
        raise RunTableError(f"{p}: no such file")
    if p.is_dir():
        raise RunTableError(f"{p}: is a directory, not a CSV or parquet file")
    if p.stat().st_size == 0:
        raise RunTableError(f"{p}: the file is empty")
    try:
        df = pd.read_parquet(p) if is_parquet(p) else pd.read_csv(p)
    except pd.errors.EmptyDataError as err:
        raise RunTableError(f"{p}: the file has no data ({err})") from err
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise RunTableError(f"{p}: could not read it as {'parquet' if is_parquet(p) else 'CSV'}: {err}") from err
    return from_dataframe(df, source=str(p))


def write(table: RunTable | pd.DataFrame, path: str | os.PathLike) -> None:
    """Write to CSV or parquet by suffix."""
    df = table.df if isinstance(table, RunTable) else table
    p = Path(path)
    if is_parquet(p):
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False)


__all__ = ["read", "write", "read_frame", "is_parquet", "PARQUET_SUFFIXES"]
