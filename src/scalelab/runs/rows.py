"""What a run table's rows are: a run's checkpoints without its name, an amount under a one-letter name, rows
repeated, runs alike in their inputs with other losses. Each returns what `scalelab.runs.table` notes (or what it
reads instead), never raises: the rows are fitted as read.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from scalelab.labels import as_text
from scalelab.runs.amounts import C_FACTOR, compute_ratio, implied_amounts
from scalelab.runs.columns import LOSS_MAX, NUMERIC, TOKENS_PER_PARAM, numbers


def named_rows(idx: Iterable, limit: int = 10, lines: Mapping | None = None) -> str:
    """``rows 3, 7`` (DataFrame index labels) or ``lines 5, 9`` (file lines, when ``lines`` maps them)."""
    idx = list(idx)
    word = "rows"
    if lines is not None:
        idx, word = [lines.get(i, i) for i in idx], "lines"
    shown = ", ".join(str(i) for i in idx[:limit])
    return f"{word} {shown}" + (f", ... ({len(idx)} {word})" if len(idx) > limit else "")


def one_letter_amount(df: pd.DataFrame, invalid: Mapping, notes: list) -> tuple[pd.DataFrame, dict, list]:
    """A one-letter column read as D or C (``d``, ``c``) put back as an extra column when the table's other two amounts
    are readable and it is not, or disagrees with them by more than `C_FACTOR` on most rows (``C, N, d`` with ``d`` a
    model width: C / (6 N d) is a million), and (for D) C / (6 N) is a plausible token count (`TOKENS_PER_PARAM`: not
    with C in PF-days); the one rule ``C = 6 N D`` then derives it from the other two, as when no such column is
    given. Returns ``(df, invalid, notes)``, the note that read it replaced by one that says why not."""
    # D and C only: the one rule derives them (N it does not), and the alternative must be a plausible token count
    weak = [(t, c) for t, c in df.attrs.get("renamed", {}).items() if t in ("D", "C") and len(str(c).strip()) == 1]
    others = [t for t in ("N", "D", "C") if not weak or t != weak[0][0]]
    if len(weak) != 1 or weak[0][1] in df.columns or not all(c in df.columns and c not in invalid for c in others):
        return df, dict(invalid), list(notes)
    (target, col), = weak
    amounts = {c: numbers(df[c], c) for c in ("N", "N_active", "D", "C") if c in df.columns and c not in invalid}
    if target == "D":  # C in other units (PF-days) would derive tokens no run has: the column is kept then
        tpp = float(np.median(implied_amounts({"N": amounts["N"], "C": amounts["C"]})["D"] / amounts["N"]))
        if not TOKENS_PER_PARAM[0] <= tpp <= TOKENS_PER_PARAM[1]:
            return df, dict(invalid), list(notes)
    if target in invalid:
        why = "its values are no amount of a language-model run"
    else:
        off = float(np.median(np.abs(np.log10(compute_ratio(amounts)))))
        if not off > np.log10(C_FACTOR):
            return df, dict(invalid), list(notes)
        why = f"with the table's other two amounts it is {10 ** off:.3g}x off C = 6 N D"
    said = f"column {col!r} read as {target!r}"
    return df.rename(columns={target: col}), {k: v for k, v in invalid.items() if k != target}, [
        n for n in notes if n != said] + [
        f"column {col!r} not read as {target!r}: {why} (a one-letter name such as d may be a model width); {target} is "
        f"derived from the other two instead (to read {col!r}: --map {target}={col})"]


def checkpoint_groups(group: np.ndarray, step: np.ndarray, loss: np.ndarray) -> dict:
    """Each group of rows (``group`` [n]: 0..G-1, rows in the table's order) read as one run's checkpoints, [G] each:
    ``rows``; ``ordered``, its steps never fall; ``growing``, they grow at every row; ``spans``, its last step lies
    above its first; ``falls``, its last row's loss lies below its first's (a NaN step or loss reads as neither)."""
    order = np.argsort(group, kind="stable")
    g, s, l = np.asarray(group)[order], np.asarray(step, float)[order], np.asarray(loss, float)[order]
    rows = np.bincount(g)
    first = np.r_[0, np.cumsum(rows)[:-1]]
    last = first + rows - 1
    inner, ds = g[1:] == g[:-1], np.diff(s)
    count = lambda bad: np.bincount(g[1:][inner & bad], minlength=len(rows))  # noqa: E731
    return {"rows": rows, "ordered": count(~(ds >= 0)) == 0, "growing": count(~(ds > 0)) == 0,
            "spans": s[last] > s[first], "falls": l[last] < l[first]}


def implied_runs(df: pd.DataFrame, invalid: Mapping) -> tuple[pd.DataFrame, list[str]]:
    """A ``run_id`` implied for a table with ``step`` but no ``run_id`` whose rows alike in every input but ``step``
    (and ``lr``, a schedule's, and ``C`` beside ``D``, which may count the FLOPs so far) are written in the order of
    their steps and fall in loss from the first to the last: checkpoints of one run each, D its token budget. Read
    as runs, every checkpoint would be a finished run at the full D. Rows alike in nothing, out of step order, or
    whose losses do not fall, stay runs of their own. A repeated step (a resumed run) is left for the curve check
    to name: the rows are then read as runs, with its warning."""
    if "step" not in df.columns or "run_id" in df.columns or "loss" in invalid or "step" in invalid:
        return df, []
    # C beside D may count the FLOPs so far (a cumulative column): the run is N and D
    skip = ("step", "lr", "loss") + (("C",) if "D" in df.columns and "D" not in invalid else ())
    keys = [c for c in (*NUMERIC, "family") if c in df.columns and c not in skip and c not in invalid]
    if not keys:
        return df, []
    group = df.reset_index(drop=True).groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    sizes = np.bincount(group)
    if not (sizes > 1).any():
        return df, []
    # every multi-row group must read as one run's checkpoints: written in the order of its steps (a repeated step, as
    # a resumed run writes, is for the curve check to name), its loss falling
    ck = checkpoint_groups(group, numbers(df["step"]).to_numpy(), numbers(df["loss"]).to_numpy())
    if not (ck["ordered"] & ck["spans"] & ck["falls"])[sizes > 1].all():
        return df, []
    out = df.assign(run_id=[f"run {g}" for g in group])
    return out, [f"column 'step' without 'run_id': {int((sizes > 1).sum())} groups of rows alike in "
                 f"{', '.join(keys)} whose loss falls with step are read as the checkpoints of one run each (run_id "
                 f"'run 0', 'run 1', ... in order of appearance); a final-loss law reads each run's last one. Give "
                 f"run_id (or D at every checkpoint) if they are runs of their own"]


# Rows that step at one fixed interval, at least this many in a row, read as a run's checkpoints (a history export
# logs tens; a ladder of evenly spaced budgets at one size rarely has more than five)
CHECKPOINT_ROWS = 8


def growing_checkpoints(df: pd.DataFrame, invalid: Mapping, lines: Mapping | None = None) -> str | None:
    """The warning for ``step`` rows without ``run_id`` that read as checkpoints with D the tokens seen so far: rows
    alike in every input but ``step``, D, C and ``lr``, written in stretches of at least `CHECKPOINT_ROWS` whose step
    grows by one fixed increment (250, 500, 750, ...: a logging interval, to a step of rounding; runs of several
    budgets double theirs) and whose D grows with it. Each such row is fitted as a finished run at its D, which a run in mid-schedule is not.
    None when no stretch reads so. Never reinterprets: finished runs may share a step column."""
    if "step" not in df.columns or "run_id" in df.columns or not {"step", "D"}.isdisjoint(invalid) or "D" not in df:
        return None
    keys = [c for c in (*NUMERIC, "family") if c in df.columns and c not in ("step", "D", "C", "lr", "loss")
            and c not in invalid]
    if not keys:
        return None
    flat = df.reset_index(drop=True)
    step, D = numbers(flat["step"]).to_numpy(float), numbers(flat["D"]).to_numpy(float)
    found = []
    for _, idx in flat.groupby(keys, dropna=False, sort=False).indices.items():  # a few sizes, each its own rows
        cuts = np.flatnonzero(np.diff(step[idx]) <= 0) + 1  # a step that does not grow starts the next stretch
        for part in np.split(idx, cuts):
            ds = np.diff(step[part])
            even = len(part) >= CHECKPOINT_ROWS and np.ptp(ds) <= max(1.0, 0.01 * ds.mean())
            if even and np.all(np.diff(D[part]) > 0):
                found.append(part)
    if not found:
        return None
    rows = df.index[np.concatenate(found)]
    return (f"{len(found)} stretch{'es' if len(found) > 1 else ''} of rows alike in {', '.join(keys)} "
            f"({named_rows(rows, lines=lines)}) step at one fixed interval while D grows, as a run's checkpoints "
            f"would: each row is fitted as a finished run at its D (a run in mid-schedule lies above one that ends "
            f"there). If they are checkpoints, give each run a run_id (a final-loss law then reads its last one); if "
            f"each row is a run of its own, drop step")


def run_column(df: pd.DataFrame, invalid: Mapping) -> str | None:
    """The warning for ``step`` rows without ``run_id`` that a column of the table's own names as runs' checkpoints
    (Clark's ``hyper_id``): each of its values holds several rows at distinct steps, in step order, whose loss falls.
    The rows are read as runs of their own, each at its full D; the warning names the column to map to run_id.
    None when no column reads so. Never reinterprets."""
    if "step" not in df.columns or "run_id" in df.columns or "step" in invalid or "loss" in invalid:
        return None
    flat = df.reset_index(drop=True)
    step, loss = numbers(flat["step"]).to_numpy(float), numbers(flat["loss"]).to_numpy(float)
    for c in flat.columns:  # the table's own columns (canonical ones and losses are what the runs are, not who)
        if c in NUMERIC or c in ("family", "step") or "loss" in str(c).lower():
            continue
        codes = pd.factorize(as_text(flat[c]))[0]
        sizes = np.bincount(codes)
        if len(sizes) < 2 or sizes.max() < 2 or len(sizes) > len(flat) / 2:
            continue
        ck = checkpoint_groups(codes, step, loss)
        multi = sizes > 1
        if ck["growing"][multi].all() and ck["falls"][multi].mean() >= 0.9:
            return (f"column 'step' without 'run_id': each row is fitted as a finished run at its full D, but the rows "
                    f"look like the checkpoints of {len(sizes)} runs named by column {str(c)!r} (each of its values "
                    f"holds rows at growing steps, its loss falling): --map run_id={c} reads them as learning curves "
                    f"(a final-loss law then reads each run's last checkpoint)")
    return None


def checkpoint_warning(df: pd.DataFrame, invalid: Mapping, lines: Mapping | None = None) -> str | None:
    """Why ``step`` rows without ``run_id`` look like checkpoints read as finished runs (`growing_checkpoints`,
    `run_column`), or None."""
    return growing_checkpoints(df, invalid, lines) or run_column(df, invalid)


# A loss above LOSS_MAX is a run that diverged (not a unit mistake) when such values are at most this share of the
# table and every other loss is below LOSS_MAX / 2 (a real loss in nats: ln of a 50k vocabulary is 10.8); a perplexity
# or bits x 1000 column has many values above it, or its others near it.
DIVERGED_SHARE = 0.1


def diverged(loss: np.ndarray) -> np.ndarray:
    """Which finite losses are runs that diverged: above `LOSS_MAX`, at most `DIVERGED_SHARE` of the finite values,
    every other one at most ``LOSS_MAX / 2`` (all False when they are not: a unit mistake)."""
    loss = np.asarray(loss, float)
    finite = np.isfinite(loss)
    high = finite & (loss > LOSS_MAX)
    rest = finite & ~high
    few = high.any() and rest.any() and high.sum() <= DIVERGED_SHARE * finite.sum()
    return high if few and loss[rest].max() <= LOSS_MAX / 2 else np.zeros(len(loss), bool)


def no_result(raw: pd.Series, name: str) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """Which rows of the column ``raw`` (canonical name ``name``) hold no result, and why, as ``(mask, [(rows, why),
    ...])``: an empty cell, an infinite value or a word with no digit (a crash, a divergence, 'N/A'); for the loss, also
    a few values above `LOSS_MAX` among plausible ones (runs that diverged: `DIVERGED_SHARE`); for D,
    also 0 tokens (an evaluation before training)."""
    values = numbers(raw, name).to_numpy()
    words = raw.notna().to_numpy() & np.isnan(values) & ~as_text(raw).str.contains(r"\d").to_numpy()
    empty = raw.isna().to_numpy() | np.isinf(values) | words
    given = raw[empty & raw.notna().to_numpy()]
    first = given.iloc[0] if len(given) else None
    shown = (f" (empty, infinite or a word: e.g. {first!r})" if isinstance(first, str) else
             f" (empty, infinite or a word: e.g. {float(first):g})" if len(given) else "")
    said = [(empty, shown)]
    if name == "D":  # an evaluation before training (step 0, a checkpoint export's first row): no run of any size
        zero = values == 0
        if zero.any():
            said.append((zero, " (0 tokens: an evaluation before training)"))
            empty = empty | zero
    if name == "loss":
        high = diverged(values)
        if high.any():
            rest = np.isfinite(values) & ~high
            said.append((high, f" (a loss above {LOSS_MAX:g} nats, e.g. {values[high][0]:g}, among losses of at most "
                               f"{values[rest].max():.3g}: runs that diverged)"))
            empty = empty | high
    return empty, said


def empty_cells(df: pd.DataFrame, lines: Mapping | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``(df, notes)``: cells an export leaves empty where their value is implied, filled, each with a note naming
    the rows:

    * an experts column ``E`` empty or 0 among counts of at least 1: dense runs, ``E = 1`` (a MoE export's dense runs);
    * unique tokens ``U_D`` empty where ``D`` and ``epochs`` are given: ``U_D = D / epochs`` (a data-constrained
      export that writes unique tokens only for the runs that repeat their data).

    A column otherwise empty, or holding words, is left as it is (refused when a law reads it)."""
    notes = []
    for col in ("E", "U_D"):
        if col not in df.columns:
            continue
        raw = df[col]
        values = numbers(raw, col).to_numpy(float)
        blank = raw.isna().to_numpy() | as_text(raw).str.strip().eq("").to_numpy()
        if col == "E":  # a dense run written with 0 experts is a dense run too
            blank |= values == 0
        given = ~blank
        if not blank.any() or not given.any() or not np.all(np.isfinite(values[given]) & (values[given] >= 1)):
            continue
        if col == "E":
            fill = np.ones(len(df))
            how = f"read as 1, dense runs (the other rows give 1 to {values[given].max():g} experts)"
        elif {"D", "epochs"} <= set(df.columns):
            fill = numbers(df["D"], "D").to_numpy(float) / numbers(df["epochs"], "epochs").to_numpy(float)
            how = "read as D / epochs"
        else:
            continue
        if not np.all(np.isfinite(fill[blank]) & (fill[blank] > 0)):
            continue
        df = df.copy()
        df[col] = np.where(blank, fill, values)
        what = "experts" if col == "E" else "unique tokens"
        notes.append(f"column {col!r} ({what}) is empty{' or 0' if col == 'E' else ''} in "
                     f"{named_rows(df.index[blank], lines=lines)}: {how}")
    return df, notes


# What a fit does with a repeated row (`repeated_rows`); `scalelab.isoflop`, which averages them, says its own
REPEATS_FITTED = "each copy counts as a run in a fit (fitted as given)"


def repeated_rows(df: pd.DataFrame, source: str, lines: Mapping | None = None) -> str | None:
    """What is wrong when rows repeat an earlier row in every column (a file concatenated twice, a
    sweep row written twice): each copy would count as another run in a fit. None when none repeat."""
    try:
        dup = df.duplicated(keep="first").to_numpy()
    except TypeError:  # cells that cannot be compared (lists in a DataFrame): nothing to say
        return None
    if not dup.any():
        return None
    group = df.reset_index(drop=True).groupby(list(df.columns), dropna=False, sort=False).ngroup()
    first = pd.Series(np.arange(len(df))).groupby(group.to_numpy()).transform("min").to_numpy()
    earlier = first[dup]
    return (f"{source}: {named_rows(df.index[dup], lines=lines)} repeat "
            f"{named_rows(df.index[earlier], lines=lines)} exactly (every column): {REPEATS_FITTED}; if they are one "
            f"run written twice, drop the repeats (pandas: df.drop_duplicates())")


# Runs alike in every input whose losses differ by more than this share are no seeds of one run (seed-to-seed
# scatter is ~1%): two ladders mixed, e.g. train and validation losses, or two datasets.
CONFLICT_SPREAD = 0.1


def conflicting_losses(df: pd.DataFrame, invalid: Mapping, source: str, lines: Mapping | None = None) -> str | None:
    """What is wrong when runs alike in every numeric column but the loss and the step (and in ``family``) have losses
    more than `CONFLICT_SPREAD` apart (checkpoints read as runs at one D are such runs): a law fitted to both sees one
    input point with two losses. None when none do."""
    keys = [c for c in (*NUMERIC, "family") if c in df.columns and c not in ("loss", "step") and c not in invalid]
    sized = any(c in keys for c in ("N", "N_total", "N_active")) and any(c in keys for c in ("D", "C"))
    if not sized or "loss" in invalid or "loss" not in df.columns:  # without a size and a data amount, runs alike
        return None  # in what is given (one compute budget: an isoFLOP profile) are no repeats of one run
    loss = df["loss"].to_numpy(float)
    group = df.reset_index(drop=True).groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    hi, lo = (pd.Series(loss).groupby(group).transform(f).to_numpy() for f in ("max", "min"))
    spread = hi / lo - 1.0
    off = spread > CONFLICT_SPREAD
    if not off.any():
        return None
    return (f"{source}: {len(np.unique(group[off]))} input points (runs alike in {', '.join(keys)}) carry losses up "
            f"to {100 * spread.max():.0f}% apart ({named_rows(df.index[off][:10], lines=lines)}): seeds of one run differ "
            f"by ~1%, so these look like two ladders mixed (train and validation losses, two datasets); keep one, "
            f"or tell them apart in a column such as family")


def split_rows(df: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """``(df, notes)``: rows of one run at one step that each hold a part of the row (a W&B export logs the loss
    and the learning rate in separate rows) merged into one, at the first row's place. Left as they are (for the
    curve table's duplicate-step check and the repeated-rows note): groups whose rows disagree on any value (W&B's own
    counters, ``_step`` or ``_timestamp``, aside: they take the first row's), whose rows each hold the loss (seeds
    whose rounded losses tie), or where a row holds nothing another lacks (a crashed seed's row beside its
    sibling's). By position: a DataFrame's index labels may repeat (frames joined by ``pd.concat``)."""
    if not {"run_id", "step"} <= set(df.columns) or not df["run_id"].duplicated().any():
        return df, []
    step = pd.to_numeric(df["step"], errors="coerce").to_numpy(float)
    code = pd.MultiIndex.from_arrays([as_text(df["run_id"]).to_numpy(), step]).factorize()[0]
    size = np.bincount(code[code >= 0], minlength=code.max() + 1)[code]  # rows in each row's (run, step)
    pos = np.flatnonzero((size > 1) & np.isfinite(step) & (code >= 0))
    if not len(pos):
        return df, []
    sub, key = df.iloc[pos].reset_index(drop=True), code[pos]
    g = sub.groupby(key, sort=False)
    read = [c for c in df.columns if c in NUMERIC]
    told = [c for c in df.columns if not str(c).startswith("_")]  # W&B's own counters (_step, _timestamp) differ
    agree = (g[told].nunique(dropna=True) <= 1).all(axis=1)
    # a split row: every row of the group holds a value that some other row lacks, and at most one holds the loss
    filled = sub[read].notna()
    adds = (filled & (filled.groupby(key).transform("sum").to_numpy() < size[pos, None])).any(axis=1).groupby(key).all()
    one_loss = g["loss"].count() <= 1 if "loss" in read else True
    ok = (agree & adds & one_loss).reindex(key).to_numpy()
    if not ok.any():
        return df, []
    heads = pos[ok & ~pd.Series(key).duplicated().to_numpy()]  # each group's first row takes the merged values
    merged = g.first()  # the first non-empty value of each column, per group
    out = df.copy()
    for j, c in enumerate(df.columns):
        out.iloc[heads, j] = merged.loc[code[heads], c].to_numpy()
    drop = np.setdiff1d(pos[ok], heads)
    return out.iloc[np.setdiff1d(np.arange(len(df)), drop)], [
        f"{int(ok.sum())} rows at {len(heads)} (run_id, step) pairs each held part of a row (the loss and the lr "
        f"logged in separate rows, as W&B exports do): merged into one row per step"]


def sort_curves(df: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """``(df, notes)``: a learning-curve table (``lr``, no ``D`` or ``C``) whose runs' rows are out of step order
    (shuffled, or exported newest first) sorted by step within each run (runs in their order of first appearance; the index, and so the file lines,
    kept). A run whose steps repeat is left as it is: a run resumed from an earlier checkpoint, or seeds under one
    run_id, which the curve table's check refuses with what to do."""
    if "lr" not in df.columns or {"D", "C"} & set(df.columns):  # a sweep's final losses (run_id a model's name,
        return df, []  # step each run's length, D at each row) would read as checkpoints: only lr curves are sorted
    step = pd.to_numeric(df["step"], errors="coerce")
    run = pd.Series(pd.factorize(as_text(df["run_id"]), sort=False)[0], index=df.index)
    if step.isna().any() or pd.DataFrame({"run": run, "step": step}).duplicated().any():
        return df, []
    back = step.groupby(run).diff() < 0  # a run's step going back in the file's order
    if not back.any():
        return df, []
    order = np.lexsort((step.to_numpy(), run.to_numpy()))
    return df.iloc[order], [f"rows of {int(run[back].nunique())} run(s) were out of step order: sorted by step "
                            f"within each run"]
