"""The targets of a forecast: the rows asked for (a path, DataFrame, dict or RunTable), their columns under
the canonical names, the inputs the candidate laws need checked (numbers > 0 in a run's range; a ``loss``
column is never read), and the refusal of a target no table of one value can answer.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from scalelab import runs as _runs
from scalelab.runs.io import without_blank_rows
from scalelab.runs.rows import empty_cells, one_letter_amount
from scalelab.runs.amounts import AMOUNT_COLUMNS, compute_mismatch, derived_amounts
from scalelab.runs.columns import POSITIVE, RANGES, canonical_names, duplicate_columns, numbers

# inputs a law learns from their spread across the runs (C is N and D, loss is the response, lr and the
# batch size belong to hyper-parameter laws): one value in the table cannot be extrapolated from
SPREAD = ("N", "N_total", "N_active", "D", "E", "k", "S", "G", "U_D", "density")


# A target within this relative distance of the one value every run shares is at that value: a budget written rounded
# (Pythia's 143,000 steps x 2,097,152 tokens = 2.9989e11, "300B" on its model card)
SAME_VALUE = 0.01


def check_spread(table: _runs.RunTable, targets: pd.DataFrame,
                 asker: str = "the target table") -> tuple[pd.DataFrame, list[str]]:
    """``(targets, notes)``: the targets with a value within `SAME_VALUE` of one that every run shares read as that
    value (a note says so), after refusing a forecast at a value of an input that every run shares a different value
    of (e.g. one model size, N = 1e9, and a target at N = 7e9): no law can learn the loss's change with it from one
    value. ``asker`` names where the targets came from in the message (the CLI: ``--at``)."""
    notes = []
    for col in SPREAD:
        if col not in table.columns or col not in targets.columns or col in table.invalid:
            continue
        have = np.unique(table.column(col))
        want = np.asarray(targets[col], float)
        if len(have) != 1:
            continue
        near = np.isclose(want, have[0], rtol=SAME_VALUE, atol=0.0)
        if not near.all():
            other = want[~near][0]
            raise _runs.RunTableError(
                f"{table.source}: every run has {col} = {have[0]:.6g}, and {asker} asks for {col} = {other:.6g}: "
                f"how the loss changes with {col} cannot be learnt from one value; add runs at two or more values "
                f"of {col} (four or more model sizes for weights and intervals calibrated by extrapolation)")
        if np.any(want != have[0]):
            notes.append(f"targets' {col} read as the runs' {col} = {have[0]:.6g}, which every run shares ({asker} "
                         f"gives {', '.join(f'{v:.6g}' for v in np.unique(want[want != have[0]])[:3])}: within "
                         f"{SAME_VALUE:.0%})")
            targets = targets.assign(**{col: have[0]})
    return targets, notes


# the inputs beyond N and D among them (experts, top-k, sparsity, granularity, unique tokens, data density)
EXTRA_INPUTS = tuple(c for c in SPREAD if c not in ("N", "N_total", "N_active", "D"))
OUTSIDE = 1.1  # a target's value of one of them more than 10% beyond the runs' is said to be extrapolated in


def axis_warnings(table: _runs.RunTable, targets: pd.DataFrame, read) -> list[str]:
    """What the candidate laws, which read the columns ``read``, make of the other inputs of the runs and targets
    (`EXTRA_INPUTS`): an input the targets give (and the runs vary, or lack) that no candidate reads is forecast as if
    it did not matter (a MoE table whose experts column is empty for the dense runs: the laws that read E were no
    candidates); one the runs vary that the targets leave out pools runs of every value into one ladder; one the laws
    read that the targets ask beyond the runs' values (by more than a factor `OUTSIDE`) is extrapolated in, which the
    interval's distance (N, D, tokens per parameter) does not count."""
    def values(df, c):
        v = numbers(df[c], c).to_numpy()
        return v[np.isfinite(v)]

    def shown(v):
        u = np.unique(v)
        return ", ".join(f"{x:g}" for x in u[:6]) + (", ..." if len(u) > 6 else "")

    def fresh(df):  # every row's unique tokens at least its tokens: no data repeated, U_D cannot matter
        if "U_D" not in df.columns or "D" not in df.columns:
            return False
        u, d = numbers(df["U_D"], "U_D").to_numpy(), numbers(df["D"], "D").to_numpy()
        ok = np.isfinite(u) & np.isfinite(d)
        return bool(ok.any() and np.all(u[ok] >= d[ok] * (1.0 - 1e-9)))

    out = []
    for c in EXTRA_INPUTS:
        tv = values(targets, c) if c in targets.columns else None
        rv = values(table.df, c) if c in table.columns else None
        if tv is None and rv is None:
            continue
        if c == "U_D" and c not in read and (rv is None or fresh(table.df)) and (tv is None or fresh(targets)):
            continue  # single-epoch runs (and targets): the unique tokens are the tokens, nothing pooled or ignored
        if c in read:
            beyond = (tv[(tv > rv.max() * OUTSIDE) | (tv < rv.min() / OUTSIDE)] if tv is not None and rv is not None
                      and len(rv) else [])
            if len(beyond):
                out.append(f"the targets ask {c} = {shown(beyond)}, outside the runs' {rv.min():g} to {rv.max():g}: "
                           f"the laws extrapolate in {c}, and the interval's distance (decades of N, D and tokens per "
                           f"parameter) does not count it")
            continue
        varies = lambda v: v is not None and len(np.unique(v)) > 1  # noqa: E731
        if tv is not None and len(tv) and (varies(tv) or varies(rv) or rv is None):
            out.append(f"the targets give {c} = {shown(tv)}, which none of the forecast's laws reads: every target "
                       f"is forecast as if {c} did not matter (the notes name the laws left out, and why)")
        elif tv is None and varies(rv):
            out.append(f"the runs differ in {c} ({shown(rv)}), which none of the forecast's laws reads and the "
                       f"targets do not give: runs of every {c} are fitted as one ladder")
    return out


def target_frame(at, what: str = "targets", like: _runs.RunTable | None = None) -> pd.DataFrame:
    """The targets as given, columns under their canonical names (``C`` and ``N`` give ``D``; ``N`` and ``D`` give
    ``C = 6 N D``, with ``N_active`` when given, as the run table derives it).

    As a run table reads them: a column name given twice, or two aliases of one column (``tokens`` beside
    ``train_tokens``), make that column unreadable, refused by `target_inputs` when a law needs it
    (``attrs["invalid"]``: {column: message}). ``attrs["warnings"]``: a ``C`` given beside ``N`` and ``D`` that
    is more than `C_FACTOR` x off ``6 N D`` (`compute_mismatch`; the laws read N and D; C is not read).
    ``what`` names the rows in messages (`scalelab.suggest` reads its ``candidates`` here too). ``like``: the run
    table the targets are asked of; a table without N takes it from the count the runs' N came from (``N_total``
    or ``N_active``), and is refused when it lacks that count (a forecast of total parameters at active ones).
    Raises `RunTableError`."""
    if isinstance(at, _runs.RunTable):
        df = at.df
    elif isinstance(at, pd.DataFrame):
        df = at
    elif isinstance(at, dict):
        df = pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in at.items()})  # read below, as a file's cells
    elif isinstance(at, (list, tuple)) and at and all(isinstance(r, dict) for r in at):
        df = pd.DataFrame(list(at))  # one dict per target
    elif isinstance(at, (str, os.PathLike)):
        df = _runs.read_frame(at)
    else:
        raise _runs.RunTableError(f"{what}: expected a CSV or parquet path, a DataFrame, a dict of columns or a list "
                                  f"of one dict per target; got a {type(at).__name__}")
    if len(df) == 0:
        raise _runs.RunTableError(f"the {what} hold no rows: give one row per run (its N and D, or the inputs the "
                                  f"laws read)")
    source = f"{what} {at}" if isinstance(at, (str, os.PathLike)) else what
    lines, blank = df.attrs.get("lines"), None
    if lines is not None:  # a file's rows (read here, or by the CLI): its empty rows are no targets, as no runs
        df, lines, blank = without_blank_rows(df, lines, source)
    df, invalid, _ = duplicate_columns(df, source)  # a column exported twice with the same values is read once
    df, _, clash = canonical_names(df.copy(), source)
    df, filled = empty_cells(df, None if lines is None else dict(zip(df.index, lines)))
    invalid = {**invalid, **clash}
    df = df.drop(columns=[c for c in ("loss",) if c in df.columns])
    if like is not None:
        _same_count(df, like, source, what)
    if "N" not in df.columns:  # N from a total or active count, as the runs' N was (`like`), or as a run table takes it
        alt = next((a for a in ("N_total", "N_active") if a in df.columns), None)
        runs_n = (like.sources.get("N") or (None,))[0] if like is not None else None
        if alt and runs_n and runs_n not in df.columns:
            raise _runs.RunTableError(
                f"{source}: the runs' N is their {runs_n} count and the {what} give only {alt}: a law reads one count "
                f"as N; give the {what} their {runs_n}, or name N's column in both (--map N=COLUMN)")
        if alt:
            df["N"] = df[runs_n if runs_n else alt]
    df, invalid, _ = one_letter_amount(df, invalid, [])  # 'd' beside C and N, a model width: as the run table reads it
    amounts = {c: numbers(df[c], c) for c in AMOUNT_COLUMNS if c in df.columns and c not in invalid}
    # C as the one rule would derive it from N (or N_active) and D, against C
    mismatch = compute_mismatch(amounts, lambda off: f"{'lines' if lines else 'rows'} " + ", ".join(
        str(lines[i] if lines else i) for i in off[:10]) + (", ..." if len(off) > 10 else ""))
    warnings = [f"{source}: {mismatch}: the forecast reads N and D, not C; check which of them is meant"] if mismatch else []
    warnings += ([blank] if blank else []) + filled  # rows that are no targets; cells an export leaves implied
    derived = derived_amounts(amounts)
    for c, d in derived.items():  # as the run table derives them
        df[c] = d.values
    # what a derived column's implausible value says of the columns it came from
    warnings += _families(df, like, source, lines) if like is not None else []
    df.attrs.update(lines=lines, invalid=invalid, warnings=warnings,
                    derived={c: d.of_what for c, d in derived.items()})
    return df


def _same_count(df: pd.DataFrame, like: _runs.RunTable, source: str, what: str) -> None:
    """Refuse targets whose N is read from a column that the runs hold beside their own N and that counts another kind
    of parameter (a non-embedding count where the runs' N is the total, or the reverse): the laws would read one count
    at the runs and another at the targets. The same count under a second name (``params`` beside ``N``) passes."""
    import shlex

    from scalelab.runs.name_words import non_embedding

    theirs, ours = df.attrs.get("renamed", {}).get("N"), like.renamed.get("N", "N")
    held = set(map(str, like.df.columns)) | set(like.renamed.values())  # the runs' columns, under their own names
    if theirs is None or theirs == ours or theirs not in held or non_embedding(theirs) == non_embedding(ours):
        return
    raise _runs.RunTableError(
        f"{source}: the {what}' N would be read from {theirs!r}, but the runs' N is their {ours!r} column (they hold "
        f"{theirs!r} too, another count): a law reads one count as N; give the {what} their {ours!r}, or read both "
        f"from {theirs!r} (--map {shlex.quote(f'N={theirs}')}; in Python, columns={{'N': {theirs!r}}})")


def _families(df: pd.DataFrame, like: _runs.RunTable, source: str, lines) -> list[str]:
    """The targets' ``family`` column against the runs': a warning naming the target rows of a family the runs fitted
    do not hold (a forecast is of the runs' own ladder; seen: ``--family rpj`` forecasting rw and c4 targets with rpj's
    runs, with no word). Warned, not refused: a label copied from an export may name a new model. (Runs of several
    families fitted as one ladder have `scalelab.fit.identify.family_warnings`.) Nothing when the runs' family names
    their models (`names_models`: ``model`` = pythia-70m, ... read as family; a target's is a new model's). Returns
    the warnings."""
    from scalelab.fit.identify import names_models
    from scalelab.labels import as_text

    if "family" not in df.columns or "family" not in like.columns or names_models(like):
        return []  # (a column naming each size's model, read as family, says nothing of the targets' ladder)

    def named(col):  # each row's family, and whether it names one (an empty cell names none)
        text = as_text(col).str.strip()
        return text, (col.notna() & (text != "")).to_numpy(bool)

    theirs, given = named(df["family"])
    runs, known = named(like.df["family"])
    ours = sorted(set(runs[known]))
    if not ours:
        return []
    other = np.flatnonzero(given & ~theirs.str.casefold().isin([f.casefold() for f in ours]).to_numpy(bool))
    out = []
    if len(other):  # said, not refused: a label column copied from an export may name a new model or a new set
        rows = ", ".join(str(lines[i] if lines else i) for i in other[:10]) + (", ..." if len(other) > 10 else "")
        held = ", ".join(ours[:5]) + (", ..." if len(ours) > 5 else "")
        out.append(f"{source}: {'lines' if lines else 'rows'} {rows} are of family {sorted(set(theirs.iloc[other]))}, "
                   f"which the runs fitted do not hold (theirs: {held}): they are forecast from the runs' ladder as "
                   f"given; to forecast another family, read its own runs (--family NAME, one call each)")
    return out


def target_inputs(df: pd.DataFrame, inputs_needed: Sequence[str], what: str = "targets") -> pd.DataFrame:
    """The inputs the candidate laws need, from a frame of `target_frame`, checked (numbers > 0, plausible
    ranges; a ``loss`` column is never read); ``what`` as in `target_frame`."""
    unreadable = [c for c in inputs_needed if c in df.attrs.get("invalid", {})]
    if unreadable:
        raise _runs.RunTableError(df.attrs["invalid"][unreadable[0]])
    missing = [c for c in inputs_needed if c not in df.columns]
    if missing:
        hint = ("; D may come as C beside N (D = C / (6N)) or as tokens_per_param beside N" if "D" in missing else "")
        hint += ("; a compute budget alone names no run: give its N or D too, or split C into N and D with `scalelab "
                 "allocate`" if "N" in missing and "C" in df.columns else "")
        raise _runs.RunTableError(f"{what} lack column(s) {missing} that the candidate laws need; "
                                  f"columns are {list(df.columns)}{hint}")
    lines = df.attrs.get("lines")  # a file's line numbers (`read_frame`), else the rows' positions
    where = lambda idx: (f"lines {', '.join(str(lines[i]) for i in idx[:10])}" if lines
                         else f"rows {', '.join(str(i) for i in idx[:10])}")
    out = pd.DataFrame({c: numbers(df[c], c) for c in inputs_needed})
    # every input the laws read, in the file's order: a number (> 0 for a count, `POSITIVE`: a sparsity may be 0, as
    # in the run table), in a language-model run's range
    for c in [c for c in df.columns if c in out.columns]:
        v = out[c].to_numpy()
        bad = ~np.isfinite(v) | ((c in POSITIVE) & ~(v > 0))
        lo, hi = RANGES.get(c, (0.0, np.inf))
        off = ~bad & ((v < lo) | (v > hi))
        if off.any():
            raise _runs.RunTableError(f"{what}: column {c!r} has implausible values in {where(np.flatnonzero(off))} "
                                      f"(e.g. {v[off][0]:.4g}); {c} of a language-model run lies in [{lo:.0e}, "
                                      f"{hi:.0e}]: check the units (7e9 for 7B, not 7)"
                                      + df.attrs.get("derived", {}).get(c, ""))
        if bad.any():
            first = df[c].iloc[int(np.flatnonzero(bad)[0])]
            raise _runs.RunTableError(f"{what}: column {c!r} must hold numbers{' > 0' if c in POSITIVE else ''}; "
                                      f"{where(np.flatnonzero(bad))} "
                                      f"(e.g. {first if isinstance(first, str) else float(first)!r})")
    return out
