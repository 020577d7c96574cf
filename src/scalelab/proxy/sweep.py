"""Run a plan, resumably, writing one RunTable row per finished run.

- Each finished run is appended to the output file *atomically*: the table is rewritten to a
  temporary file in the same directory, fsync'ed, and moved over the old one with
  ``os.replace``. A killed sweep leaves either the old or the new file, never a torn one.
- Restarting the same command skips every run whose ``run_id`` is already in the output (or in
  any shard file of it): a killed sweep loses at most the run that was in flight.
- ``shard=(i, n)`` runs every n-th run of the plan starting at i and writes
  ``<stem>.shard<i>of<n><suffix>``, so shards on different processes or hosts never share a
  file. ``read_runs`` merges an output and its shard files (and any paths or globs).
- Files are CSV, or parquet when the name ends in ``.parquet``. Every row carries
  ``written_by = "scalelab proxy sweep"``; a sweep writes only into a new file or one that
  marker says it wrote (`check_target`), never into a user's table. Files get the user's umask
  (an existing file keeps its mode) and a killed write leaves no temp file behind for long
  (`scalelab.proxy.atomic`).
- Whole curves (``curve_every=k``): every run also appends its logged steps (``run_id, step,
  lr, train_loss, loss`` plus the run's ``N``, ``D`` per step, ``seed``, ``schedule``) to
  ``<stem>.curves<suffix>`` next to the run table: a curve table for the curve laws.
- The pool's share of repeated 16-token windows is the column ``ngram_repeat``, not ``density``
  (which a run table reserves for Chen et al.'s data density; see `scalelab.proxy.tokens`). A sweep
  file written before that rename is read with its ``density`` column renamed (`legacy_columns`),
  so a resumed sweep keeps one column.
- A schedule CSV (``schedule=path``, columns ``step, lr``; see ``train.read_schedule``)
  replaces every run's schedule; those runs get ids ``<spec id>-s<schedule hash>``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from .atomic import remove_stale, replace_atomic
from .config import RunSpec
from .train import read_schedule, train_run

from scalelab.labels import as_text
from scalelab.runs.io import shard_files

__all__ = ["sweep", "read_runs", "shard_path", "parse_shard", "append_row", "check_target", "MARKER", "curves_path",
           "legacy_columns"]

MARKER = ("written_by", "scalelab proxy sweep")
# Columns only the proxy trainer writes: with MARKER they identify a sweep table (the same rule as
# `scalelab.runs.table`'s reading of old sweep files; proxy/ imports nothing else of scalelab's).
SWEEP_SIGNATURE = ("duplication", "entropy_floor")


def legacy_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with an old sweep file's ``density`` column (the share of repeated 16-token windows,
    written under that name before it became ``ngram_repeat``) renamed ``ngram_repeat``. A table is a
    sweep's when it has the ``written_by`` marker or all of `SWEEP_SIGNATURE`; any other is untouched."""
    cols = set(df.columns)
    sweep_table = MARKER[0] in cols or set(SWEEP_SIGNATURE) <= cols
    if sweep_table and "density" in cols and "ngram_repeat" not in cols:
        return df.rename(columns={"density": "ngram_repeat"})
    return df


def check_target(path: str | os.PathLike) -> None:
    """Refuse to write into ``path`` unless it is absent or a sweep file (every row marked)."""
    path = Path(path)
    if not path.exists():
        return
    col, value = MARKER
    if path.is_dir():
        raise ValueError(f"--out {path}: is a directory; name a .csv or .parquet file")
    try:
        df = _read_one(path)
    except Exception as err:
        raise ValueError(f"--out {path}: exists and is not a sweep file ({err}); choose a new file") from None
    if col not in df.columns or (df[col] != value).any():
        raise ValueError(f"--out {path}: exists and was not written by `scalelab proxy sweep` (no {col!r} "
                         f"marker column), so it is left untouched; choose a new file (a sweep resumes only "
                         f"into its own output)")


def curves_path(out: str | os.PathLike) -> Path:
    """The curve file written beside a run table: ``<stem>.curves<suffix>``."""
    out = Path(out)
    return out.with_name(f"{out.stem}.curves{out.suffix}")


def _schedule_for(spec: RunSpec, schedule) -> tuple[str, object]:
    """(run id, per-update lrs or None) of ``spec`` under an optional schedule CSV."""
    if schedule is None:
        return spec.run_id, None
    lrs = read_schedule(schedule, spec.train.steps(spec.model.seq_len))
    return f"{spec.run_id}-s{hashlib.sha1(lrs.tobytes()).hexdigest()[:8]}", lrs


def append_rows(path: str | os.PathLike, rows: list[dict]) -> None:
    """Append several rows at once (atomically, as `append_row`)."""
    path = Path(path)
    old = _read_one(path) if path.exists() else pd.DataFrame()
    new = pd.DataFrame(rows)
    _write_atomic(path, new if old.empty else pd.concat([old, new], ignore_index=True))


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; None -> ``(0, 1)``."""
    if text is None:
        return 0, 1
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 0 <= int(m[1]) < int(m[2]):
        raise ValueError(f"--shard must look like i/n with 0 <= i < n (e.g. 0/4), got {text!r}")
    return int(m[1]), int(m[2])


def shard_path(out: str | os.PathLike, shard: tuple[int, int]) -> Path:
    """The file a shard writes: ``out`` itself for ``(0, 1)``, else ``<stem>.shard<i>of<n><suffix>``."""
    out = Path(out)
    i, n = shard
    return out if n == 1 else out.with_name(f"{out.stem}.shard{i}of{n}{out.suffix}")


def _siblings(out: Path) -> list[Path]:
    return [out] * out.exists() + shard_files(out)


def _read_one(path: Path) -> pd.DataFrame:
    return legacy_columns(pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path))


def read_runs(paths_or_glob: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Read and merge run files into one DataFrame (one row per run).

    Accepts a path, a glob, or a list of either. Each plain path also brings in its shard files
    (``<stem>.shard*of*<suffix>``). Rows repeated across files (same ``run_id``) are kept once.
    Raises FileNotFoundError when nothing matches.
    """
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    files: list[Path] = []
    for item in items:
        s = str(item)
        if any(c in s for c in "*?["):
            files.extend(Path(p) for p in sorted(glob.glob(s)))
        else:
            files.extend(_siblings(Path(s)))
    files = list(dict.fromkeys(files))
    if not files:
        raise FileNotFoundError(f"no run files at {paths_or_glob!r} (nor shard files next to it); run a sweep first")
    frames = [f for f in (_read_one(p) for p in files) if len(f)]
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    if "run_id" in df:
        df = df.drop_duplicates("run_id", keep="first").reset_index(drop=True)
    return df


def append_row(path: str | os.PathLike, row: dict) -> None:
    """Append one row (marked ``written_by``) to a CSV/parquet sweep file atomically (rewrite to
    a temp file, fsync, ``os.replace``); refuses a file that is not a sweep's (`check_target`)."""
    path = Path(path)
    check_target(path)
    old = _read_one(path) if path.exists() else pd.DataFrame()
    new = pd.DataFrame([{**row, MARKER[0]: MARKER[1]}])
    _write_atomic(path, new if old.empty else pd.concat([old, new], ignore_index=True))


def _write_atomic(path: Path, df: pd.DataFrame) -> None:
    """Replace ``path`` with ``df`` atomically (`scalelab.proxy.atomic`): the run table or its curve file."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(fh):
        if path.suffix == ".parquet":
            df.to_parquet(fh, index=False)
        else:
            df.to_csv(fh, index=False)

    replace_atomic(path, write)


def sweep(
    specs: Sequence[RunSpec], out: str | os.PathLike, shard: tuple[int, int] = (0, 1),
    progress: bool = True, limit: int | None = None, curve_every: int = 0, schedule=None,
) -> pd.DataFrame:
    """Train the runs of ``specs`` that belong to ``shard`` and are not yet in ``out`` (or its
    shard files), appending each finished row to ``shard_path(out, shard)``.

    ``limit`` stops after that many new runs (for tests and partial sweeps). ``curve_every``
    and ``schedule``: see the module doc. Progress (tqdm)
    goes to stderr. Returns the merged table of every run of ``specs`` finished so far.
    """
    i, n = shard
    mine = list(specs)[i::n]
    target = shard_path(out, shard)
    out_path = Path(out)
    check_target(target)  # before any training: a user's table is never appended to
    remove_stale(target)
    done = set()
    existing = _siblings(out_path) + ([target] if target.exists() and target not in _siblings(out_path) else [])
    for p in existing:
        df = _read_one(p)
        if "run_id" in df:
            done.update(as_text(df["run_id"]))
    ids_of = {id(s): _schedule_for(s, schedule)[0] for s in mine}
    todo = [s for s in mine if ids_of[id(s)] not in done]
    if limit is not None:
        todo = todo[:limit]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), initial=len(mine) - len([s for s in mine if ids_of[id(s)] not in done]),
                   desc=f"proxy sweep {i}/{n}", unit="run", file=sys.stderr)
    for spec in todo:
        if bar is not None:
            bar.set_postfix_str(f"{spec.model.family} d={spec.model.d_model} D={spec.train.tokens:.2g}")
        run_id, lrs = _schedule_for(spec, schedule)
        extra = {**({"lrs": lrs} if lrs is not None else {}), **({"curve_every": curve_every} if curve_every else {})}
        row = train_run(spec, **extra)
        row["run_id"] = run_id
        curve = row.pop("curve", None)
        if curve:
            per_step = row["D"] / row["step"]
            extra = {"run_id": run_id, "N": row["N"], "seed": row["seed"], "schedule": row["schedule"]}
            append_rows(shard_path(curves_path(out), shard),
                        [{**extra, **c, "D": per_step * c["step"]} for c in curve])
        append_row(target, row)
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"last loss {row['loss']:.3f}")
    if bar is not None:
        bar.close()
    ids = {_schedule_for(s, schedule)[0] for s in specs}
    files = _siblings(out_path) or ([target] if target.exists() else [])
    if not files:  # nothing finished yet (e.g. an empty shard, or limit=0)
        return pd.DataFrame(columns=["run_id"])
    table = read_runs(files)
    return table[table["run_id"].isin(ids)].reset_index(drop=True)
