"""RunTable: the canonical table of training runs every other stage reads.

One row per run (or per checkpoint, with ``step``), long format. Columns:

========== ==================================================================
``N``       parameters the law uses (which count is the law's convention;
            Chinchilla: total parameters, Kaplan: non-embedding)
``N_total`` total parameters (MoE: all experts)
``N_active`` parameters active per token (MoE: routed experts only)
``D``       training tokens (not sequences)
``C``       training FLOPs (about 6 * N_active * D unless a run says otherwise)
``loss``    final evaluation/training loss, nats per token
optional    ``E`` experts, ``k`` experts per token, ``S`` sparsity, ``G``
            granularity, ``U_D`` unique tokens, ``lr``, ``batch_size``,
            ``density``, ``run_id``, ``family``, ``step``
========== ==================================================================

Common aliases are renamed (``params``/``num_params`` -> ``N``, ``tokens`` ->
``D``, ``flops``/``Training FLOP`` -> ``C``, ...). When ``D`` is absent and
``C`` present, ``D = C / (6 N)`` is derived and recorded in ``notes``.

Bad input raises `RunTableError` naming the column and the offending rows;
nothing is ever dropped silently.

A *curve table* has several rows per ``run_id`` (checkpoints at ``step``, with the
``lr`` of that step): its steps must increase within each run, every run needs two rows
or more, and ``lr`` may be 0 but not negative (`scalelab.curves.schedule` holds the
checks and the schedule convention). Final-loss laws are fitted on `RunTable.final`
(each run's last checkpoint, noted in the result); curve laws use every row.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

NUMERIC = ("N", "N_total", "N_active", "D", "C", "loss", "E", "k", "S", "G", "U_D", "lr",
           "batch_size", "density", "step")
POSITIVE = ("N", "N_total", "N_active", "D", "C", "loss", "E", "k", "G", "U_D", "lr", "batch_size")
TEXT = ("run_id", "family")

ALIASES = {
    "n": "N", "params": "N", "num_params": "N", "n_params": "N", "parameters": "N",
    "model size": "N", "model_size": "N", "nparams": "N",
    "n_total": "N_total", "total_params": "N_total",
    "n_active": "N_active", "active_params": "N_active",
    "d": "D", "tokens": "D", "num_tokens": "D", "n_tokens": "D", "data": "D", "train_tokens": "D",
    "c": "C", "flops": "C", "compute": "C", "training flop": "C", "training_flops": "C",
    "train_flops": "C",
    "loss": "loss", "final_loss": "loss", "eval_loss": "loss", "val_loss": "loss", "l": "loss",
    "experts": "E", "num_experts": "E", "n_experts": "E", "top_k": "k", "sparsity": "S",
    "granularity": "G", "unique_tokens": "U_D", "learning_rate": "lr", "batch": "batch_size",
    "bs": "batch_size", "run": "run_id", "model": "family",
}


class RunTableError(ValueError):
    """Raised for bad run data; the message names the column, rows and a fix."""


@dataclasses.dataclass(frozen=True)
class RunTable:
    """Validated runs plus notes on what was derived.

    Attributes:
      df: the canonical DataFrame (original row order and index kept).
      notes: human-readable notes (derived columns, renamed aliases).
      source: where the data came from (path or ``"<DataFrame>"``).
    """

    df: pd.DataFrame
    notes: tuple[str, ...] = ()
    source: str = "<DataFrame>"

    def __len__(self) -> int:
        return len(self.df)

    @property
    def columns(self) -> list[str]:
        return list(self.df.columns)

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as float64 NumPy array, or a clear error if absent."""
        if name not in self.df.columns:
            raise RunTableError(f"column {name!r} missing; columns are {self.columns}")
        return self.df[name].to_numpy(dtype=float)

    def inputs(self, names: Iterable[str]) -> dict[str, np.ndarray]:
        return {n: self.column(n) for n in names}

    def require(self, columns: Sequence[str], n_params: int | None = None, law: str = "") -> None:
        """Check ``columns`` exist and, if given, that there are more runs than parameters."""
        who = f" by law {law!r}" if law else ""
        for c in columns:
            if c not in self.df.columns:
                hint = " (give D, or C and N: D = C/(6N))" if c == "D" else ""
                raise RunTableError(f"column {c!r} needed{who} is missing{hint}; columns are {self.columns}")
        if n_params is not None and len(self.df) <= n_params:
            raise RunTableError(
                f"{len(self.df)} runs cannot determine the {n_params} free parameters{who}; "
                f"give at least {n_params + 1} runs"
            )

    def drop_highest_loss(self, n: int) -> "RunTable":
        """Drop the ``n`` highest-loss rows (Epoch's convention on the Chinchilla data)."""
        keep = self.df.drop(self.df["loss"].nlargest(n).index) if n else self.df
        return RunTable(keep, self.notes + (f"dropped the {n} highest-loss rows",), self.source)

    def select(self, mask) -> "RunTable":
        return RunTable(self.df[np.asarray(mask, bool)], self.notes, self.source)

    # -- curve tables (several rows per run: run_id + step); logic in scalelab.curves.schedule --
    @property
    def is_curve(self) -> bool:
        """True when some ``run_id`` has several rows (checkpoints at different ``step``)."""
        from scalelab.curves.schedule import is_curve_table

        return is_curve_table(self.df)

    def final(self) -> "RunTable":
        """Each run's last checkpoint (largest ``step``); a one-row-per-run table passes through."""
        if not self.is_curve:
            return self
        from scalelab.curves.schedule import final_rows

        keep = final_rows(self.df)
        return RunTable(keep, self.notes + (f"curve table: kept each run's last checkpoint (final()), {len(keep)} "
                                            f"of {len(self.df)} rows",), self.source)


def _rows(idx: Iterable, limit: int = 10) -> str:
    idx = list(idx)
    shown = ", ".join(str(i) for i in idx[:limit])
    return shown + (f", ... ({len(idx)} rows)" if len(idx) > limit else "")


def _canonical_names(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    notes, rename = [], {}
    canonical = set(NUMERIC) | set(TEXT)
    for col in df.columns:
        if col in canonical:
            continue
        target = ALIASES.get(str(col).strip().lower())
        if target is not None and target not in df.columns and target not in rename.values():
            rename[col] = target
            notes.append(f"column {col!r} read as {target!r}")
    return df.rename(columns=rename), notes


def from_dataframe(df: pd.DataFrame, source: str = "<DataFrame>") -> RunTable:
    """Validate a DataFrame into a `RunTable` (aliases renamed, D derived from C)."""
    if not isinstance(df, pd.DataFrame):
        raise RunTableError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise RunTableError(f"{source}: the run table is empty (no rows)")
    df, notes = _canonical_names(df.copy())
    if "loss" not in df.columns:
        raise RunTableError(f"{source}: column 'loss' missing; columns are {list(df.columns)}")
    curve = "run_id" in df.columns and "step" in df.columns and bool(df["run_id"].duplicated().any())
    for col in NUMERIC:
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            raise RunTableError(
                f"{source}: column {col!r} has non-numeric values in rows {_rows(df.index[bad])} "
                f"(e.g. {df[col][bad].iloc[0]!r})"
            )
        values = values.astype(float)
        nonfinite = ~np.isfinite(values.to_numpy())
        if nonfinite.any():
            raise RunTableError(f"{source}: column {col!r} has NaN or infinite values in rows "
                                f"{_rows(df.index[nonfinite])}")
        if col in POSITIVE and not (curve and col == "lr"):  # a curve's schedule may reach lr 0 (checked below)
            nonpos = values.to_numpy() <= 0
            if nonpos.any():
                raise RunTableError(f"{source}: column {col!r} must be > 0; rows {_rows(df.index[nonpos])} "
                                    f"are zero or negative")
        if col == "S":
            out = (values.to_numpy() < 0) | (values.to_numpy() >= 1)
            if out.any():
                raise RunTableError(f"{source}: column 'S' (sparsity) must lie in [0, 1); rows {_rows(df.index[out])}")
        df[col] = values
    if curve:
        from scalelab.curves.schedule import check_curve_table  # curve table: several rows per run

        check_curve_table(df, source, error=RunTableError)
    if "N" not in df.columns:
        for alt in ("N_total", "N_active"):
            if alt in df.columns:
                df["N"] = df[alt]
                notes.append(f"N taken from {alt} (the law's N convention: {alt})")
                break
    if "D" not in df.columns and "C" in df.columns and "N" in df.columns:
        df["D"] = df["C"] / (6.0 * df["N"])
        notes.append("D derived as C / (6 N) (no token column given)")
    if "C" not in df.columns and "D" in df.columns and "N" in df.columns:
        n_for_c = df["N_active"] if "N_active" in df.columns else df["N"]
        df["C"] = 6.0 * n_for_c * df["D"]
        notes.append("C derived as 6 N D" + (" (N_active)" if "N_active" in df.columns else ""))
    return RunTable(df, tuple(notes), source)


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
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p)
    except pd.errors.EmptyDataError as err:
        raise RunTableError(f"{p}: the file has no data ({err})") from err
    except Exception as err:  # pandas/pyarrow raise many types for unreadable files
        raise RunTableError(f"{p}: could not read it as {'parquet' if p.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: {err}") from err
    return from_dataframe(df, source=str(p))


def write(table: RunTable | pd.DataFrame, path: str | os.PathLike) -> None:
    """Write to CSV or parquet by suffix."""
    df = table.df if isinstance(table, RunTable) else table
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False)
