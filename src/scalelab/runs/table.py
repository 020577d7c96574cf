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

``density`` is Chen et al.'s (2025) data density in [0, 1), the input of the density laws
(`scalelab.runs.density` measures it). The proxy trainer's share of repeated 16-token windows is
another quantity and has its own column, ``ngram_repeat`` (`scalelab.proxy.tokens`); a density law
refuses a table that has only that, naming the mapping that uses it deliberately
(``columns={"density": "ngram_repeat"}``). A proxy sweep file written before that column was
renamed (``density`` beside the sweep's ``written_by`` marker, or beside its ``duplication`` and
``entropy_floor`` columns) has it renamed ``ngram_repeat`` at read, with a note.

Column names are made canonical first (`scalelab.runs.columns`: ``params`` -> ``N``, ``tokens`` ->
``D``, ...; an alias beside its canonical column is an extra column, left untouched with a note).
When ``D`` is absent, ``D = C / (6 N)`` (or ``tokens_per_param x N``) is derived and recorded in ``notes``.

Bad input raises `RunTableError` naming the column and the offending rows (file line
numbers when the table came from a file); nothing is ever dropped silently. Values that no
language-model run has (``N``/``D`` outside [1e3, 1e16], ``loss`` outside (0, 20] nats, a loss
with no variation), a column given twice, two aliases of one absent column, and (in a file) rows
that repeat an earlier row in every column are refused the same way, when a method reads the column. Reading and writing files: `scalelab.runs.io`.

A *curve table* has several rows per ``run_id`` (checkpoints at ``step``, with the
``lr`` of that step): its steps must increase within each run, every run needs two rows
or more, and ``lr`` may be 0 but not negative (`scalelab.laws.schedule` holds the
checks and the schedule convention). Final-loss laws are fitted on `RunTable.final`
(each run's last checkpoint, noted in the result); curve laws use every row.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from scalelab.levels import is_count
from scalelab.runs.amounts import AMOUNT_COLUMNS, derived_amounts
from scalelab.runs.columns import NUMERIC, POSITIVE, RunTableError, canonical_names, duplicate_columns
from scalelab.runs.mapping import map_columns
from scalelab.runs.rows import (checkpoint_warning, conflicting_losses, empty_cells, implied_runs, named_rows,
                                no_result, one_letter_amount, repeated_rows, sort_curves, split_rows)
from scalelab.runs.values import check_numeric, marked_note, precision_note

# An old proxy sweep table: the columns (any one of a group) that only the proxy trainer writes
# (the same rule as `scalelab.proxy.sweep.legacy_columns`; runs/ imports nothing above it).
SWEEP_SIGNATURES = (("written_by",), ("duplication", "entropy_floor"))
NGRAM_HINT = ("'ngram_repeat' is the proxy trainer's share of repeated 16-token windows, not Chen et al.'s data "
              "density; to use it as a stand-in, map it deliberately: read(path, columns={'density': 'ngram_repeat'}) "
              "or --map density=ngram_repeat")


@dataclasses.dataclass(frozen=True)
class RunTable:
    """Validated runs plus notes on what was derived.

    Attributes:
      df: the canonical DataFrame (original row order and index kept).
      notes: human-readable notes (derived columns, renamed aliases).
      source: where the data came from (path or ``"<DataFrame>"``).
      invalid: column -> what is wrong with it. A known column with bad values (NaN, text,
        non-positive) is kept as read and refused only when a method uses it (`column`,
        `require`): an export's ``lr`` column, empty for some runs, does not stop a fit of N and D.
    """

    df: pd.DataFrame
    notes: tuple[str, ...] = ()
    source: str = "<DataFrame>"
    invalid: Mapping[str, str] = dataclasses.field(default_factory=dict)
    lines: Mapping | None = None  # index label -> file line, when read from a file
    derived: tuple[str, ...] = ()  # columns scalelab added (D from C, C from N and D, N from N_active): not the user's
    checkpoints: str | None = None  # why a curve table's checkpoints are read as runs (`final_points`), or why its
    # run_id and step are no curves (each row then a run of its own): a warning of every fit and forecast
    sources: Mapping[str, tuple] = dataclasses.field(default_factory=dict)  # derived column -> the columns it came from
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # canonical name -> the table's own column

    def written(self, name: str) -> str:
        """The table's own name of column ``name`` (``dense_parameter_count`` for N_active): what ``--map`` takes."""
        return self.renamed.get(name, name)

    def rows(self, labels: Iterable) -> str:
        """``lines 5, 9`` (a file's lines) or ``rows 3, 7`` (DataFrame index labels) for ``labels``."""
        return named_rows(labels, lines=self.lines)

    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:  # one line: the frame itself is ``.df`` (it printed whole, with every note)
        return (f"RunTable({len(self.df)} rows from {self.source}, columns {list(self.df.columns)}"
                + (f", {len(self.notes)} note(s)" if self.notes else "") + ")")

    def per_run(self, values, name: str) -> np.ndarray:
        """``values`` given one per run (weights, group labels) as an array in the table's row order: a
        `pandas.Series` is matched to the table's index by label (never silently by position; labels that
        are not the table's are refused), anything else is read in row order and must have one entry per run."""
        if isinstance(values, pd.Series):
            index = self.df.index
            if not (index.is_unique and values.index.is_unique and len(values) == len(index)
                    and values.index.isin(index).all()):
                raise ValueError(f"{name} is a pandas Series whose index does not match the run table's "
                                 f"({len(values)} labels for {len(index)} runs): index it like the table "
                                 f"({name}.reindex(table.index)) or pass an array in the table's row order")
            values = values.reindex(index)
        out = np.asarray(values)
        if out.shape != (len(self),):
            raise ValueError(f"{name} must have one entry per run ({len(self)}), got shape {out.shape}")
        return out

    @property
    def columns(self) -> list[str]:
        return list(self.df.columns)

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as float64 NumPy array, or a clear error if absent."""
        if name not in self.df.columns:
            hint = f" ({NGRAM_HINT})" if name == "density" and "ngram_repeat" in self.df.columns else ""
            raise RunTableError(f"column {name!r} missing{hint}; columns are {self.columns}")
        if name in self.invalid:
            raise RunTableError(self.invalid[name])
        return self.df[name].to_numpy(dtype=float)

    def ignored(self, used: Iterable[str]) -> list[str]:
        """The table's own columns that a method reading ``used`` leaves alone (carried through untouched); columns
        scalelab derived are not among them, nor those a used column was derived from (``C`` when ``D = C / (6 N)`` is
        used, ``N_total`` when N was taken from it)."""
        used = set(used)
        used |= {s for c in used for s in self.sources.get(c, ())}
        return [c for c in self.columns if c not in used and c not in self.derived]

    def inputs(self, names: Iterable[str]) -> dict[str, np.ndarray]:
        """``{name: column(name)}`` for each of ``names`` (float64 arrays, checked as `column` checks them)."""
        return {n: self.column(n) for n in names}

    def require(self, columns: Sequence[str], n_params: int | None = None, law: str = "") -> None:
        """Check ``columns`` exist and, if given, that there are more runs than parameters."""
        who = f" by law {law!r}" if law else ""
        for c in columns:
            if c not in self.df.columns:
                hint = " (give D, or C and N: D = C/(6N), or tokens_per_param and N)" if c == "D" else ""
                for src, how in (("C", "C/(6N)"), ("tokens_per_param", "tokens_per_param x N")):  # D would be
                    if c == "D" and src in self.invalid:  # derived from src, whose values are the fault
                        hint = f" (it is derived as {how}, and {src} cannot be read: {self.invalid[src]})"
                hint = f" ({NGRAM_HINT})" if c == "density" and "ngram_repeat" in self.df.columns else hint
                raise RunTableError(f"column {c!r} needed{who} is missing{hint}; columns are {self.columns}")
            if c in self.invalid:  # the loss is every law's response: its fault is the table's, not one law's
                raise RunTableError(self.invalid[c] + (f" (needed{who})" if who and c != "loss" else ""))
        if n_params is not None and len(self.df) <= n_params:
            raise RunTableError(
                f"{len(self.df)} runs cannot determine the {n_params} free parameters{who}; "
                f"give at least {n_params + 1} runs"
            )

    def drop_highest_loss(self, n: int) -> "RunTable":
        """Drop the ``n`` highest-loss rows (Epoch's convention on the Chinchilla data). Runs whose loss is empty
        (crashed or unfinished) are not among them: they stay, for the command to leave out or refuse as it does."""
        if not is_count(n):
            raise ValueError(f"drop_highest_loss: n counts runs, a whole number >= 0; got {n!r}")
        if not n:
            return self
        self.without_missing("loss")[0].column("loss")  # a loss column that cannot be read is refused here
        losses = pd.to_numeric(self.df["loss"], errors="coerce")
        if n >= losses.notna().sum():
            raise RunTableError(f"{self.source}: cannot drop the {n} highest-loss runs of {int(losses.notna().sum())} "
                                f"with a loss: none would be left (--drop-highest-loss K needs K below that)")
        if self.is_curve:  # a curve table's runs, by their last checkpoint's loss: every row of each run dropped
            from scalelab.laws.schedule import final_rows

            last = final_rows(self.df)
            worst = last["run_id"].iloc[np.argsort(-pd.to_numeric(last["loss"], errors="coerce").to_numpy())[:n]]
            keep = self.df[~self.df["run_id"].isin(set(worst))]
            return dataclasses.replace(self._kept(keep, "loss"), notes=self.notes + (
                f"dropped the {n} runs with the highest last-checkpoint loss (all their rows)",))
        keep = self.df.drop(losses.nlargest(n).index)  # (a diverged run's loss, refused until dropped, among them)
        return dataclasses.replace(self._kept(keep, "loss"), notes=self.notes + (f"dropped the {n} highest-loss rows",))

    def _kept(self, keep: pd.DataFrame, *names: str) -> "RunTable":
        """The table of the rows ``keep``, each of its columns ``names`` checked again on them if this table's rows
        had it refused for its values (`check_numeric`); refused for another reason (two columns that both mean it),
        it stays refused."""
        invalid = dict(self.invalid)
        for name in names:
            if name not in self.invalid or check_numeric(self.df[name], name, self.source, self.lines)[0] != \
                    self.invalid[name]:
                continue
            problem, values = check_numeric(keep[name], name, self.source, self.lines)
            if problem:
                invalid[name] = problem
            else:
                del invalid[name]
                keep = keep.assign(**{name: values})
        return dataclasses.replace(self, df=keep, invalid=invalid)

    def without_missing(self, *names: str) -> tuple["RunTable", str | None]:
        """Runs with no value in one of ``names`` (default: the loss) left out, and what was left out, said (None when
        nothing was): an empty cell (a crash, an unfinished run), an infinite value, a word with no digit
        ('diverged', 'N/A', a summary row's 'mean'), a few losses above 20 nats among plausible ones, or 0 tokens
        (`rows.no_result`). An input (N, D) is left out so in at most a quarter of the runs (a table that leaves
        most sizes blank may mean 'as above': refused). Other faults stay refused: the
        runs kept are checked again (`_kept`)."""
        names = names or ("loss",)
        drop, parts = np.zeros(len(self.df), bool), []
        for name in names:
            raw = self.df[name] if name in self.invalid and name in self.df.columns else None
            if not isinstance(raw, pd.Series):
                continue
            missing, said = no_result(raw, name)
            if not missing.any() or missing.all() or (name != "loss" and missing.sum() > 0.25 * len(missing)):
                continue  # (an input empty in most runs is no run's fault: refused where read)
            drop |= missing
            parts += [f"no {name!r} in {self.rows(self.df.index[m])}{why}" for m, why in said if m.any()]
        if not drop.any():
            return self, None
        return (self._kept(self.df[~drop], *names),
                f"{self.source}: {'; '.join(parts)}: {int(drop.sum())} of {len(drop)} runs left out")

    def select(self, mask) -> "RunTable":
        """The rows where ``mask`` (booleans, one per row, in the table's order) is True, as a table of the same
        source and notes. Positions or labels are no mask: ``table.select(np.isin(np.arange(len(table)), rows))``."""
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != (len(self.df),):
            raise ValueError(f"select: expected {len(self.df)} booleans, one per row; got {m.dtype} values of shape "
                             f"{m.shape}")
        return dataclasses.replace(self, df=self.df[m])

    # -- curve tables (several rows per run: run_id + step); logic in scalelab.laws.schedule --
    @property
    def is_curve(self) -> bool:
        """True when some ``run_id`` has several rows (checkpoints at different ``step``) and they are not read as
        runs of their own (`final_points`)."""
        from scalelab.laws.schedule import is_curve_table

        return self.checkpoints is None and is_curve_table(self.df)

    def final(self) -> "RunTable":
        """Each run's last checkpoint (largest ``step``); a one-row-per-run table passes through."""
        if not self.is_curve:
            return self
        from scalelab.laws.schedule import final_rows

        keep = final_rows(self.df)
        return dataclasses.replace(self, df=keep, notes=self.notes + (
            f"curve table: kept each run's last checkpoint (final()), {len(keep)} of {len(self.df)} rows",))

    def final_points(self) -> "RunTable":
        """The rows a final-loss law is fitted on: each run's last checkpoint (`final`), unless those cannot
        determine the law and D is recorded at every checkpoint; then every checkpoint is a run at its own D (the
        table is no longer `is_curve`) and ``checkpoints`` says why (`scalelab.runs.design.checkpoints_needed`;
        fits and forecasts warn with it)."""
        from scalelab.runs.design import checkpoints_needed

        if not self.is_curve:
            return self
        last = self.final()
        readable = all(c in self.df.columns and c not in self.invalid for c in ("N", "D"))
        why = checkpoints_needed(self.df, last.df) if readable else None
        return last if why is None else dataclasses.replace(self, checkpoints=why)


def _old_sweep_columns(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str]]:
    """An old proxy sweep table's ``density`` (the n-gram repeat share) renamed ``ngram_repeat``, noted."""
    cols = set(map(str, df.columns))
    if "density" in cols and "ngram_repeat" not in cols and any(set(g) <= cols for g in SWEEP_SIGNATURES):
        return df.rename(columns={"density": "ngram_repeat"}), [
            "column 'density' of this proxy sweep table (written before the rename) read as 'ngram_repeat': "
            "the share of repeated 16-token windows, not Chen et al.'s data density"]
    return df, []


def named_columns(df: pd.DataFrame, source: str, columns: Mapping[str, str] | None = None) -> tuple:
    """``(df, invalid, notes, clash)``: ``df``'s columns under their canonical names (repeated names, old sweep
    names, the ``columns`` map, aliases and units), row for row: the first step of `from_dataframe`."""
    df, invalid, repeated = duplicate_columns(df, source)
    df, notes = _old_sweep_columns(df.copy(), source)
    df, mapped = map_columns(df, columns, source)
    df, more, clash = canonical_names(df, source)
    return df, invalid, repeated + notes + mapped + more, clash


def from_dataframe(df: pd.DataFrame, source: str = "<DataFrame>", *, columns: Mapping[str, str] | None = None,
                   lines: Sequence[int] | None = None) -> RunTable:
    """Validate a DataFrame into a `RunTable` (aliases renamed, D derived from C).

    Args:
      columns: ``{canonical name: column of df}`` renamed first (e.g. ``{"loss": "loss_validation"}``).
      lines: the file line of each row, so that errors name lines instead of DataFrame rows.
    """
    if not isinstance(df, pd.DataFrame):
        raise RunTableError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise RunTableError(f"{source}: the run table is empty (no rows)")
    df, invalid, notes, clash = named_columns(df, source, columns)
    renamed = dict(df.attrs.get("renamed", {}))  # {canonical name: the table's own column}: --map takes those
    line_of = None if lines is None else dict(zip(df.index, lines))
    if "loss" not in df.columns:
        raise RunTableError(f"{source}: column 'loss' missing; columns are {list(df.columns)}"
                            f" (name it: --map loss=COLUMN, or read(..., columns={{'loss': COLUMN}}))")
    df, implied = implied_runs(df, invalid)
    df, merged = split_rows(df)
    df, filled = empty_cells(df, line_of)  # a MoE export's dense runs, their expert count left empty; U_D = D / epochs
    notes += implied + merged + filled
    curve = "run_id" in df.columns and "step" in df.columns and bool(df["run_id"].duplicated().any())
    for col in NUMERIC:
        if col not in df.columns or col in invalid:
            continue
        coarse = precision_note(df[col], col, source)  # float16: fitted as given, its lost digits said
        if coarse:
            notes.append(coarse)
        mark = marked_note(df[col], col, source, line_of)  # '3.5348*', '4.60 ± 0.06': read as the number, said
        if mark:
            notes.append(mark)
        # a curve's schedule may reach lr 0 (checked with the curve table below)
        problem, values = check_numeric(df[col], col, source, line_of,
                                         positive=col in POSITIVE and not (curve and col == "lr"))
        if problem:  # refused when used (RunTable.column / require), carried through untouched otherwise
            invalid[col] = problem
        else:
            df[col] = values
    invalid.update({k: v for k, v in clash.items() if k not in invalid})
    df, invalid, notes = one_letter_amount(df, invalid, notes)
    # A file's repeated rows are often a mistake (concatenated twice, a row written twice), but may be real
    # (two seeds that agree to the printed digits): said in a note, fitted as given. A DataFrame's may be
    # deliberate (resampled with replacement), so only files are checked.
    repeated = repeated_rows(df, source, line_of) if source != "<DataFrame>" else None
    if repeated:
        notes.append(repeated)
    not_curves = None
    if curve:
        from scalelab.laws.schedule import check_curve_table  # curve table: several rows per run

        df, resorted = sort_curves(df)
        notes += resorted
        # an lr column a final-loss law does not read may hold anything (it is invalid, refused when a curve law
        # reads it: the curve laws check their table again, lr included)
        try:
            check_curve_table(df.drop(columns=["lr"]) if "lr" in invalid else df, source, error=RunTableError,
                              rows=lambda idx: named_rows(idx, lines=line_of))
        except RunTableError as bad:  # run_id and step are no curves (a model's name shared by runs of several
            # token budgets, W&B's 'Name' and 'Step'): refused where a curve law reads them; every row is a run
            for name in ("run_id", "step"):  # a clash of two run-id columns, found first, is the reason to give
                invalid.setdefault(name, str(bad))
            not_curves = (f"{bad}. So the rows are not read as learning curves: each row is a run of its own, at its "
                          f"own N and D (a curve law refuses the table)")
    # rows of one (N, D) with other losses: a curve's checkpoints share N and differ in D, so only runs are checked
    conflicting = None if curve and not not_curves else conflicting_losses(df, invalid, source, line_of)
    if conflicting:
        notes.append(conflicting)
        if "step" in df.columns and not not_curves and not implied:  # checkpoints read as runs at their full D: a
            # warning of every fit (seeds, or a resumed run, written without run_id)
            not_curves = (f"{conflicting}. The table has a 'step' column: these look like the checkpoints of runs "
                          f"(seeds, or a resumed run) read as finished runs at their full D; give each run a run_id")
    not_curves = not_curves or (None if curve or implied else checkpoint_warning(df, invalid, line_of))
    ok = lambda c: c in df.columns and c not in invalid  # noqa: E731
    given = set(df.columns) - ({"run_id"} if implied else set())
    sources = {}
    if "N" not in df.columns:
        for alt in ("N_total", "N_active"):
            if ok(alt):
                df["N"] = df[alt]
                sources["N"] = (alt,)
                notes.append(f"N taken from {alt} (no column is N; the {alt[2:]} parameter count)" + (
                    "; laws that define N as the active parameters (clark2022_routed, hossain2025_sparse) read it "
                    f"too: --map N={renamed.get('N_active', 'N_active')} for those"
                    if alt == "N_total" and ok("N_active") else ""))
                break
    usable = {c: df[c] for c in AMOUNT_COLUMNS if ok(c)}
    for c, d in derived_amounts(usable).items():
        if c in df.columns:  # there but unreadable: refused when used, never replaced
            continue
        df[c], sources[c] = d.values, d.sources
        problem = check_numeric(d.values, c, source, line_of)[0]
        if problem:  # compute in other units (PF-days) derives tokens no run has: refused when used, naming C
            invalid[c] = problem + d.of_what
        notes.append(d.note)
    return RunTable(df, tuple(notes), source, invalid, line_of, tuple(c for c in df.columns if c not in given),
                    checkpoints=not_curves, sources=sources, renamed=renamed)
