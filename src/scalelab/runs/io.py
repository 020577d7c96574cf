"""Run tables on disk: CSV (separator and decimal comma sniffed, or named) or parquet (recognised
by its magic bytes, whatever the file is called). `read_frame` is the one file reader."""

from __future__ import annotations

import csv
import dataclasses
import io as _io
import os
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from scalelab.labels import as_text
from scalelab.runs.cells import numbers
from scalelab.runs.columns import RunTableError
from scalelab.runs.table import RunTable, from_dataframe, named_columns

PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
SEPARATORS = (",", ";", "\t", "|")


def is_parquet(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a parquet file (by suffix); anything else is written as CSV."""
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def _magic(p: Path) -> bytes:
    with open(p, "rb") as fh:
        return fh.read(4)


OLE2_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy Office files (.xls)


def _decode(p: Path) -> str:
    """The text of a CSV file: UTF-8 (a BOM allowed), UTF-16 when it starts with a UTF-16 BOM (Excel's
    "Unicode text" export), else Windows-1252 when the bytes look like text (an export from an older
    spreadsheet: accented column names); anything else is refused naming the file."""
    raw = p.read_bytes()
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise RunTableError(f"{p}: starts like UTF-16 text but does not decode ({err.reason})") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw[:65536]) / max(1, min(len(raw), 65536))
        if b"\x00" not in raw and printable >= 0.95:
            try:
                return raw.decode("cp1252")
            except UnicodeDecodeError:
                pass
        raise RunTableError(f"{p}: not UTF-8 text and not parquet ({err.reason} at byte {err.start}); "
                            f"save it as UTF-8 CSV or parquet") from err


def sniff(text: str, sep: str | None = None) -> tuple[str, str]:
    """(separator, decimal mark) of CSV ``text``: the candidate separator most frequent in the
    header line, unless ``sep`` names it; a decimal comma when the separator is not a comma and
    the data hold numbers like ``2,5``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = lines[0] if lines else ""
    if sep is None:
        counts = {d: header.count(d) for d in SEPARATORS}
        sep = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
    decimal = "."
    if sep != "," and any(re.search(r"(^|\D)\d+,\d+($|[eE\D])", ln) for ln in lines[1:50]):
        decimal = ","
    return sep, decimal


def _lines(text: str, n_rows: int) -> list[int] | None:
    """File line (1-based) of each data row: non-blank lines after the header."""
    nonblank = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip()]
    lines = nonblank[1:]
    return lines if len(lines) == n_rows else None


def _numeric(field: str) -> bool:
    try:
        float(field.strip().strip('"'))
    except ValueError:
        return False
    return True


def _preamble_blanked(text: str) -> str:
    """Comment lines above the header (``# exported from wandb ...``) blanked, so the header is the first line read;
    the file's line numbers are kept (`_lines` counts the blank lines). A ``#`` further down is data. A ``#`` line
    right above a line of numbers, with as many fields, is the header itself (``#,N,D,loss`` with a row-number column,
    ``#Params,#Tokens,loss``), not a comment."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
        i += 1
    if i and i < len(lines):
        above = max(j for j in range(i) if lines[j].strip()) if any(ln.strip() for ln in lines[:i]) else None
        sep = max(SEPARATORS, key=lines[i].count)
        fields = lines[i].split(sep)
        if (above is not None and lines[i].count(sep) and lines[above].count(sep) == lines[i].count(sep)
                and sum(map(_numeric, fields)) >= len(fields) / 2):
            i = above  # the header starts with '#'
    return "\n" * i + "\n".join(lines[i:]) if i else text


def _title_blanked(text: str, sep: str) -> str:
    """A title line above the header (``Table 3: final losses``) blanked, the file's line numbers kept: the first line,
    split at the file's separator ``sep``, has fewer fields than the next, a header (most of its fields no number),
    which has as many as the line after it. A header shorter than its rows (a row-number column) is no title: the
    next line is data."""
    lines = text.split("\n")
    at = [j for j in range(len(lines)) if lines[j].strip()][:3]
    if len(at) < 3:
        return text
    title, head, row = (next(csv.reader([lines[j]], delimiter=sep), []) for j in at)  # fields, quotes read
    if (1 < len(head) == len(row) and len(title) < len(head) and sum(map(_numeric, head)) < len(head) / 2
            and not any(map(_numeric, title))):
        return "\n" * at[1] + "\n".join(lines[at[1]:])
    return text


def shard_files(path: str | os.PathLike) -> list[Path]:
    """The shards of ``path`` that ``scalelab proxy sweep --shard i/n`` writes beside it
    (``<stem>.shard<i>of<n><suffix>``: `scalelab.proxy.sweep.shard_path`), sorted by name."""
    import glob

    p = Path(path)
    return [Path(f) for f in sorted(glob.glob(str(p.with_name(f"{glob.escape(p.stem)}.shard*of*{p.suffix}"))))]


def _shards_of(p: Path) -> str:
    """What to do when a missing file was written in shards (`shard_files`), else ''."""
    found = shard_files(p)
    if not found:
        return ""
    shown = ", ".join(f.name for f in found[:4]) + (", ..." if len(found) > 4 else "")
    return (f"; a sharded sweep wrote its runs to {shown}: `scalelab proxy show {p}` lists them together, and "
            f"scalelab.proxy.read_runs({str(p)!r}) reads them as one table (write it to a file to fit it), or give one "
            f"shard's file")


def read_frame(path: str | os.PathLike, *, sep: str | None = None) -> pd.DataFrame:
    """A CSV or parquet file as a raw DataFrame (no validation).

    Parquet is recognised by its magic bytes; CSV separators (``, ; tab |``) and a decimal comma
    are sniffed unless ``sep`` is given; comment lines above the header (``# exported ...``) are skipped. A repeated
    header name is kept repeated (not renamed ``N.1``) so that validation can refuse it. ``df.attrs["lines"]`` holds
    the file line of each row.
    """
    p = Path(path)
    if not p.exists():
        raise RunTableError(f"{p}: no such file" + _shards_of(p))
    if p.is_dir():
        raise RunTableError(f"{p}: is a directory, not a CSV or parquet file")
    if p.stat().st_size == 0:
        raise RunTableError(f"{p}: the file is empty")
    magic = _magic(p)
    if magic == PARQUET_MAGIC:
        try:
            return pd.read_parquet(p)
        except Exception as err:  # pyarrow raises many types for damaged files
            raise RunTableError(f"{p}: could not read it as parquet: {err}") from err
    if is_parquet(p):
        raise RunTableError(f"{p}: could not read it as parquet: named parquet but it lacks the PAR1 magic bytes")
    if magic[:2] == b"PK":
        raise RunTableError(f"{p}: a zip or Excel file, not CSV; export it as CSV or parquet")
    if magic[:2] == b"\x1f\x8b":  # gzip: let pandas decompress it
        try:
            return pd.read_csv(p, sep=sep or ",")
        except Exception as err:
            raise RunTableError(f"{p}: could not read it as gzipped CSV: {err}") from err
    if sep is not None:
        sep = {"tab": "\t", "\\t": "\t"}.get(sep, sep)
        if len(sep) != 1:
            raise RunTableError(f"--sep {sep!r}: give one character (',', ';', '|', or 'tab')")
    if magic == OLE2_MAGIC:
        raise RunTableError(f"{p}: an Excel (.xls) file, not CSV; export it as CSV or parquet")
    text = _preamble_blanked(_decode(p))
    if text.lstrip()[:1] in ("{", "["):
        raise RunTableError(f"{p}: looks like JSON, not CSV; give a CSV or parquet run table "
                            f"(pandas: pd.read_json(...).to_csv(..., index=False))")
    given = sep is not None
    sep, decimal = sniff(text, sep)
    text = _title_blanked(text, sep)
    try:
        df = pd.read_csv(_io.StringIO(text), sep=sep, decimal=decimal)
    except pd.errors.EmptyDataError as err:
        raise RunTableError(f"{p}: the file has no data ({err})") from err
    except Exception as err:  # pandas raises many types for unreadable files
        raise RunTableError(f"{p}: could not read it as CSV (separator {sep!r}; name it with --sep): {err}") from err
    header = next(csv.reader(_io.StringIO(text.lstrip("\r\n")), delimiter=sep), [])
    if given and df.shape[1] == 1:  # one column under the separator named: is the file separated by another?
        other = next((s for s in SEPARATORS if s != sep and str(df.columns[0]).count(s)), None)
        if other is not None:
            raise RunTableError(f"{p}: read with separator {sep!r} the file has one column ({str(df.columns[0])!r}); "
                                f"it looks separated by {other!r}: leave --sep out (it is sniffed) or give --sep "
                                f"{'tab' if other == chr(9) else repr(other)}")
    if len(header) == df.shape[1] and len(set(header)) < len(header):
        df.columns = [h.strip() if isinstance(h, str) else h for h in header]  # keep repeats visible
    df.attrs["lines"] = _lines(text, len(df))
    return _units_row(df)


# A cell of a units row: a unit in brackets ('[M]', '(B tokens)', '[nats]')
_UNIT_CELL = r"\s*(?:\[[^\[\]\d]*\]|\([^()\d]*\)|\[10\^\d+\]|\(10\^\d+\))\s*"


def _units_row(df: pd.DataFrame) -> pd.DataFrame:
    """A first row of units under the header (``params,tokens,loss`` over ``[M],[B],[nats]``) joined to the names it
    stands under (``params [M]``, read as N in millions, as a name with its unit is) and taken out of the rows."""
    if len(df) < 2:
        return df
    first = df.iloc[0]
    given = first.notna().to_numpy() & (first.astype("string").str.strip() != "").fillna(False).to_numpy(bool)
    unit = first.astype("string").str.fullmatch(_UNIT_CELL).fillna(False).to_numpy(bool)
    if not given.any() or not np.all(unit[given]) or given.sum() < len(df.columns) / 2:
        return df
    lines = df.attrs.get("lines")
    out = df.iloc[1:].copy()
    out.columns = [f"{c} {str(u).strip()}" if g else c for c, u, g in zip(df.columns, first, given)]
    out.attrs = {**df.attrs, "lines": None if lines is None else lines[1:]}
    return out


def read(path: str | os.PathLike | pd.DataFrame | Mapping | RunTable, *, columns: Mapping[str, str] | None = None,
         sep: str | None = None, family: str | Sequence[str] | None = None) -> RunTable:
    """Read a run table from CSV or parquet, or validate a DataFrame (or a dict of columns).

    Args:
      columns: ``{canonical name: column in the file}``, e.g. ``{"loss": "loss_validation",
        "E": "num_experts"}``, renamed before validation.
      sep: the CSV separator (default: sniffed).
      family: keep only the runs of this family (or these families): the values of the ``family``
        column (or its alias ``model``). The kept rows are validated on their own, so a column that
        only the other families leave empty does not stand in the way.

    A `RunTable` passes through unchanged (``columns`` and ``family`` must then be None). Errors about
    rows of a file name its line numbers.
    """
    if isinstance(path, RunTable):
        if columns or family is not None:
            raise RunTableError("columns= and family= apply when reading a file or DataFrame, not to a RunTable")
        return path
    if isinstance(path, Mapping):  # {column: values}, as pandas.DataFrame reads it
        try:
            path = pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in path.items()})
        except ValueError as err:
            raise RunTableError(f"a dict of columns must give each column the same number of values: {err}") from None
    blank = None
    if isinstance(path, pd.DataFrame):
        df, source, lines = path, "<DataFrame>", None
    elif not isinstance(path, (str, os.PathLike)):
        raise RunTableError(f"expected a path (CSV or parquet), a pandas DataFrame, a dict of columns or a RunTable; "
                            f"got a {type(path).__name__}")
    else:
        df = read_frame(path, sep=sep)
        source, lines = str(Path(path)), df.attrs.get("lines")
        df, lines, blank = without_blank_rows(df, lines, source)
    table = from_dataframe(df, source=source, columns=columns, lines=lines)
    if blank:
        table = dataclasses.replace(table, notes=(blank,) + table.notes)
    return table if family is None else _of_families(table, df, family, columns, lines)


def without_blank_rows(df: pd.DataFrame, lines, source: str):
    """``(df, lines, note)``: a file's rows with every cell empty (a spreadsheet's ``,,,`` rows), repeating the
    header (two CSVs written one after the other: every cell empty or its column's name, two at least), a markdown
    table's alignment row (``|---:|---:|``) or, in a table of three columns or more, one cell of text and the rest
    empty (a title or a footnote under a paper's table) left out, and
    the note saying which lines (None when there were none; a file of such rows only is left to be refused). A run
    table's file and a forecast's targets' alike."""
    empty = df.isna().all(axis=1).to_numpy()
    given = df.notna().to_numpy()  # a cell that holds something (blank text is nothing)
    named = np.zeros(df.shape, bool)  # a cell holding its column's name (only a column of text can)
    text = {}  # the columns of text, stripped: each compared at once (tens of columns)
    for j, c in enumerate(df.columns):
        if not pd.api.types.is_numeric_dtype(df.iloc[:, j]):
            text[j] = df.iloc[:, j].astype("string").str.strip()
            named[:, j] = text[j].eq(str(c).strip()).fillna(False).to_numpy(bool)
            given[:, j] &= text[j].ne("").fillna(False).to_numpy(bool)
    header = (named | df.isna().to_numpy()).all(axis=1) & (named.sum(axis=1) >= min(2, len(df.columns)))
    # a markdown table's alignment row (|---|:---:|), and in a table of 3 columns or more a line of one cell of text
    # with a letter and the rest empty (a title or a footnote written under the table): no run. Only the few rows
    # with no number in a numeric column are read cell by cell
    numeric = [j for j in range(df.shape[1]) if j not in text]
    maybe = np.flatnonzero(~empty & ~given[:, numeric].any(axis=1))
    rule, remark = np.zeros(len(df), bool), np.zeros(len(df), bool)
    if len(maybe):
        cells = {j: t.iloc[maybe] for j, t in text.items()}
        dashes = np.column_stack([cells[j].str.fullmatch(r":?-{3,}:?").fillna(False).to_numpy(bool) for j in text])
        rule[maybe] = (~given[maybe][:, list(text)] | dashes).all(axis=1)
        # (a cell that reads as a number, 1e21 or 7B, is no text)
        worded = np.column_stack([(cells[j].str.contains(r"[A-Za-z]") & numbers(cells[j], "N").isna()).fillna(False)
                                  .to_numpy(bool) for j in text])
        remark[maybe] = (~header[maybe] & (given[maybe].sum(axis=1) == 1) & worded.any(axis=1)
                         & (len(df.columns) >= 3))
    drop = empty | header | rule | remark
    if not drop.any() or drop.all():
        return df, lines, None
    notes = []
    for mask, what in ((empty, "have every cell empty"), (header, "repeat the header"),
                       (rule, "are a markdown table's alignment row"),
                       (remark, "hold one cell of text and no other (a title or a footnote)")):
        if mask.any():
            where = (f"lines {', '.join(str(ln) for ln, e in zip(lines, mask) if e)}" if lines is not None
                     else f"{int(mask.sum())} rows")
            notes.append(f"{where} {what}")
    return (df[~drop], None if lines is None else [ln for ln, e in zip(lines, drop) if not e],
            f"{source}: {'; '.join(notes)}: left out")


def _of_families(table: RunTable, raw: pd.DataFrame, family, columns, lines) -> RunTable:
    """``table`` less the runs of other families: the raw rows of the families asked for, validated again."""
    names = [family] if isinstance(family, (str, int, float)) else list(family)
    names = [str(n).strip() for n in names if str(n).strip()]
    if not names:
        raise RunTableError("family=: name at least one family")
    if "family" not in table.columns:
        raise RunTableError(f"{table.source}: no 'family' column to choose the runs of {names} from; columns are "
                            f"{table.columns}")
    values = as_text(table.df["family"]).str.strip()
    known = sorted(set(values))
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        raise RunTableError(f"{table.source}: no runs of family {unknown}; the 'family' column holds: {shown}")
    # which raw rows: their own family cells, read under the same names (the table's rows may have been sorted or
    # merged when read, so its order is not the file's)
    keep = as_text(named_columns(raw, table.source, columns)[0]["family"]).str.strip().isin(names).to_numpy()
    kept = from_dataframe(raw[keep], source=table.source, columns=columns,
                          lines=None if lines is None else [ln for ln, k in zip(lines, keep) if k])
    others = (~keep).sum()
    note = (f"kept the {kept.df['run_id'].nunique()} runs ({int(keep.sum())} rows) of family {', '.join(names)} "
            f"({int(others)} other rows left out)" if kept.is_curve else
            f"kept the {int(keep.sum())} runs of family {', '.join(names)} ({int(others)} others left out)")
    return dataclasses.replace(kept, notes=(note,) + kept.notes)


def write(table: RunTable | pd.DataFrame, path: str | os.PathLike) -> None:
    """Write to CSV or parquet by suffix."""
    df = table.df if isinstance(table, RunTable) else table
    p = Path(path)
    if is_parquet(p):
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False)


__all__ = ["read", "read_frame", "write", "is_parquet", "sniff", "PARQUET_SUFFIXES", "without_blank_rows", "shard_files"]
