"""Identifiability warnings: designs and fits whose parameters the data cannot pin down.

Each check returns plain strings (empty list: nothing to say). They are shared by `fit`,
`forecast` and the Bayesian posteriors, and printed on stderr / put in ``--json`` ``warnings``.

* D proportional to N across runs (log D an affine function of log N): the N and D exponents of
  a Chinchilla-type law trade off exactly, so only their combination is identified.
* every run shares one N or one D: that input's exponent and coefficient are not identified.
* less than a decade spanned in N or D: exponents rest on a short lever arm.
* a median tokens per parameter no language-model run uses (below 1e-3 or above 1e5): N or D written
  in other units (N in millions, D in billions), which every law and allocation reads as counts.
* a fitted parameter at the edge of its range (unconstrained value far outside the law's start
  range, a sigmoid-bounded value at 0 or 1, an exponent at zero).
* runs of several families (the ``family`` column) fitted as one ladder by a law that reads nothing
  telling them apart: one set of parameters for, say, two datasets' ladders describes neither; and the same
  told by another column no law reads (``dataset``), where runs alike in the law's inputs differ in loss.
"""

from __future__ import annotations

import numpy as np

from scalelab.labels import MISSING, as_text
from scalelab.laws.schedule import after_peak
from scalelab.runs.design import d_follows_n
from scalelab.runs.amounts import compute_mismatch, ratio_mismatch
from scalelab.runs.columns import NUMERIC, TEXT, TOKENS_PER_PARAM

MIN_DECADES = 1.0


def table_warnings(table, columns=("N", "D")) -> list[str]:
    """Warnings about the design of the run table (which inputs vary, and how much)."""
    out = []
    cols = [c for c in columns if c in table.columns]
    logs = {c: np.log10(table.column(c)) for c in cols}
    for c in cols:
        span = float(np.ptp(logs[c]))
        if span == 0.0:
            out.append(f"every run shares one {c} ({10 ** logs[c][0]:.4g}): parameters tied to {c} are not identified")
        elif span < MIN_DECADES:
            out.append(f"the runs span only {span:.2f} decades in {c} (less than {MIN_DECADES:g}): its exponent "
                       f"rests on a short lever arm")
    follows = d_follows_n(table.column(cols[0]), table.column(cols[1])) if len(cols) == 2 else None
    if follows is not None:
        slope, icpt, scatter = follows
        out.append(f"D is a function of N across the runs (log D = {slope:.3g} log N + {icpt:.3g}, scatter "
                   f"{scatter:.3g} decades): the N and D terms are not separately identified; vary D at fixed N")
    return out + unit_warnings(table)


# A table whose median loss is above this many nats holds no final losses per token in nats (perplexities of 8-19 under
# 'loss' were read without a word): a warning, not a refusal (tiny models on a large vocabulary come near it)
LOSS_TYPICAL = 8.0


def unit_warnings(table) -> list[str]:
    """A warning when the runs' median loss is above `LOSS_TYPICAL` nats (a perplexity, or bits), and when the runs'
    median tokens per parameter (D / N) is one no language-model run uses
    (`TOKENS_PER_PARAM`): N or D written in other units, which every law, allocation and Approach 2 reads as counts;
    and when the table's own C (not derived) is more than `C_FACTOR` x off 6 N D (`compute_mismatch`): one of the
    three is in other units or means something else, and the laws of N and D read N and D, not C; likewise a
    tokens-per-parameter column more than `RATIO_FACTOR` x off D / N (`ratio_mismatch`)."""
    out = []
    if "loss" in table.columns and "loss" not in table.invalid and len(table):
        median = float(np.median(table.column("loss")))
        if median > LOSS_TYPICAL:
            out.append(f"the runs' median loss is {median:.3g}: a language model's loss per token in nats is rarely "
                       f"above {LOSS_TYPICAL:g} (a perplexity of {np.exp(LOSS_TYPICAL):,.0f}); is the column a "
                       f"perplexity (exp of the loss), or in bits? The laws read it as nats")
    if not {"N", "D"} <= set(table.columns) or {"N", "D"} & set(table.invalid):  # (an unreadable one is refused where read)
        return out
    ratio = float(np.median(table.column("D") / table.column("N")))
    if not TOKENS_PER_PARAM[0] <= ratio <= TOKENS_PER_PARAM[1]:
        out.append(f"the runs' median tokens per parameter is {ratio:.3g}, far outside what language-model runs use "
                   f"({TOKENS_PER_PARAM[0]:g} to {TOKENS_PER_PARAM[1]:g}): are N or D in other units (N in millions, "
                   f"D in billions)? Laws and allocations read both as counts")
    given = {c: table.column(c) for c in ("N", "N_active", "D", "C", "tokens_per_param")
             if c in table.columns and c not in table.invalid and c not in table.derived}
    where = lambda off: table.rows(table.df.index[off])  # noqa: E731
    mismatch = compute_mismatch(given, where)
    if mismatch:
        out.append(f"the runs' {mismatch}: one of them is in other units or means something else; laws of N and D "
                   f"read N and D, not C")
    mismatch = ratio_mismatch(given, where)
    if mismatch:
        out.append(f"the runs' {mismatch}: it means something else; the laws read N and D, not it")
    return out


def names_models(table) -> bool:
    """Whether the table's ``family`` column names the models of one ladder, not ladders: one model size (N within 5%)
    per value (``model``: pythia-70m, pythia-160m, ..., read as ``family``). False without N or a family column."""
    import pandas as pd

    if "family" not in table.columns or "N" not in table.columns:
        return False
    label = as_text(table.df["family"]).to_numpy()
    named = label != MISSING  # rows with no family name none
    by = pd.to_numeric(table.df["N"], errors="coerce")[named].groupby(label[named], sort=False)
    return bool(np.all(by.max().to_numpy() <= 1.05 * by.min().to_numpy()))


def family_warnings(table, inputs, pooled: str = "the law reads no input that tells them apart: they are fitted "
                    "as one ladder", fix: str = "fit each family") -> list[str]:
    """A warning when the table's ``family`` column names several families and none of ``inputs`` (the columns
    the law or laws read) tells them apart: no input column other than N, D, C whose values differ between every
    two families (a dense and a MoE family, told apart by ``E``, are one law's business). A column that holds one
    model size per value, within 5% (``model``: 125m, 1.3b, ... naming each size's runs, read as ``family``),
    names the models of one ladder and says nothing. ``pooled`` says what becomes of them and ``fix`` what to do
    instead (a fit's by default; `scalelab.isoflop` pools them into one isoFLOP profile per budget)."""
    if "family" not in table.columns:
        return []
    label = as_text(table.df["family"]).to_numpy()
    groups = {str(k): np.flatnonzero(label == k) for k in sorted(set(label) - {MISSING})}  # positions, not labels
    if len(groups) < 2:
        return []
    if names_models(table):
        return []  # one model size per value (within 5%): the column names the ladder's models, not ladders
    for c in inputs:
        if c in ("N", "D", "C") or c not in table.columns:
            continue
        col = table.df[c].to_numpy(dtype=float)
        values = [set(np.round(col[at], 12)) for at in groups.values()]
        if all(not (a & b) for i, a in enumerate(values) for b in values[i + 1:]):
            return []
    sizes = ", ".join(f"{k}: {len(v)}" for k, v in list(groups.items())[:6]) + (", ..." if len(groups) > 6 else "")
    return [f"the runs come from {len(groups)} families (column 'family': {sizes} runs) and {pooled}; {fix} on its "
            f"own rows (--family NAME; in Python, scalelab.read(path, family=NAME))"]


# Runs alike in every input the law reads, told apart by an unread column, whose losses differ by more than this median
# share are two ladders (two datasets, train and validation losses), not seeds of one run (their scatter is ~0.1-1%)
LADDER_GAP = 0.02


def ladder_warnings(table, inputs) -> list[str]:
    """A warning when a column the laws do not read (a text or few-valued column, e.g. ``dataset``: c4, pile) tells
    apart runs alike in every input of ``inputs`` whose losses differ by a median of more than `LADDER_GAP`: two
    ladders pooled into one fit. (The ``family`` column has `family_warnings`.)"""
    import pandas as pd

    keys = [c for c in inputs if c in table.columns and c not in table.invalid]
    if not keys or "loss" in table.invalid or table.is_curve or len(table.df) < 4:
        return []
    df = table.df
    logy = np.log(pd.to_numeric(df["loss"], errors="coerce").to_numpy(float))
    inputs = df[keys].apply(pd.to_numeric, errors="coerce").round(12)
    point = inputs.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()  # the input point of each run
    out = []
    for col in df.columns:
        if col in NUMERIC or col in TEXT or col in keys:
            continue
        label = as_text(df[col]).to_numpy()
        values = np.unique(label)
        if not 2 <= len(values) <= min(10, len(df) // 2):  # a few groups, each of two runs or more
            continue
        # per input point holding two labels or more: the gap between the labels' mean log losses there
        means = pd.Series(logy).groupby([point, label]).mean()
        by_point = means.groupby(level=0)
        spread = (by_point.max() - by_point.min())[by_point.size() > 1]
        gaps = spread.to_numpy()
        if len(gaps) < 2 or np.median(gaps) <= np.log1p(LADDER_GAP):
            continue
        sizes = ", ".join(f"{v}: {int(np.sum(label == v))}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        out.append((col, sizes, 100 * np.expm1(np.median(gaps)), len(gaps)))
    if len(out) == 1:
        (col, sizes, gap, n), = out
        return [f"column {col!r} ({sizes} runs), which no law reads, tells apart runs alike in {', '.join(keys)} "
                f"whose losses differ by a median {gap:.0f}% ({n} such input points): two ladders fitted as one; keep "
                f"one (--map family={col} --family VALUE; in Python, scalelab.read(path, columns={{'family': {col!r}}}, "
                f"family=VALUE))"]
    if out:  # several such columns (a table of many configurations): one warning naming each
        each = "; ".join(f"{col!r} ({sizes} runs; a median {gap:.0f}% apart at {n} input points)"
                         for col, sizes, gap, n in out)
        return [f"columns no law reads tell apart runs alike in {', '.join(keys)} whose losses differ: {each}: "
                f"several ladders fitted as one; keep one (--map family=COLUMN --family VALUE, or filter the rows)"]
    return []


def curve_warnings(table) -> list[str]:
    """What a curve table's design leaves a curve law (inputs ``run_id, step, lr``) unable to say: several model
    sizes pooled into one law with no N, and no run whose learning rate decays after its peak (the laws' annealing
    term, which a decaying target schedule reads, is then not determined by the data)."""
    import pandas as pd

    df, out = table.df, []
    if "N" in df.columns and "N" not in table.invalid and pd.to_numeric(df["N"], errors="coerce").nunique() > 1:
        out.append("the table holds several model sizes (N) but the curve laws have no N: their fit pools the sizes "
                   "into one curve; fit and forecast one size at a time")
    if {"run_id", "step", "lr"} <= set(df.columns) and not {"step", "lr"} & set(table.invalid):
        after = after_peak(df)
        if not (after["lr"] < 0.9 * after["peak"]).any():
            out.append("no run's learning rate decays after its peak (each holds it within 10% of the peak): the "
                       "laws' annealing term is not determined by these runs, so a forecast or schedule that decays "
                       "rests on its start range; train one run with a decay")
    return out


def sweep_warnings(table, inputs) -> list[str]:
    """A hyper-parameter sweep left in the table (`scalelab.runs.sweeps`) that a law not reading its settings is fitted
    to: the fit describes the sweep's average run, not the tuned one (`forecast` keeps each point's best setting)."""
    from scalelab.runs.sweeps import best_settings

    keep, sweep = best_settings(table.df, table.invalid, inputs)
    if keep is None:
        return []
    return [sweep + f": the law is fitted to every setting's runs, so it describes the sweep's "
            f"average run, not the tuned one; keep each point's best setting ({int(keep.sum())} runs; "
            f"scalelab forecast does so by default)"]


def _active_below_total(table, inputs) -> tuple[int, int, float] | None:
    """``(runs active in fewer parameters than N, runs, smallest active / total)`` when N is the runs' total count
    (taken from ``N_total``), a law reading ``inputs`` reads N, and some runs' ``N_active`` lies below it; else None."""
    if ("N" not in inputs or table.sources.get("N") != ("N_total",) or "N_active" not in table.columns
            or "N_active" in table.invalid):
        return None
    total, active = table.column("N"), table.column("N_active")
    fewer = active < total * (1.0 - 1e-6)
    return (int(fewer.sum()), len(total), float(np.min(active / total))) if fewer.any() else None


def sparse_count_warnings(table, inputs) -> list[str]:
    """A warning when N is the runs' total count (taken from ``N_total``), some runs are active in fewer parameters
    (``N_active`` below it: MoE or sparse runs) and the law reads no experts or sparsity (``inputs``): it takes each
    such run as a dense model of its total count."""
    below = None if {"E", "S", "k", "G", "N_active"} & set(inputs) else _active_below_total(table, inputs)
    if below is None:
        return []
    n, of, least = below
    return [f"N is the runs' total parameter count (N_total), and {n} of the {of} runs are active in fewer (N_active "
            f"down to {least:.2g} of it: MoE or sparse runs), but no law here reads their experts or sparsity: each "
            f"such run is taken as a dense model of its total count; --map N={table.written('N_active')} reads the "
            "active count, and an experts column (E) makes the MoE laws candidates"]


def active_count_warnings(table, law) -> list[str]:
    """A warning when ``law`` defines N as the parameters active per token (`Law.active_n`) and the runs' N is their
    total count (taken from ``N_total``) while their ``N_active`` is smaller: the law is fitted to the wrong count."""
    below = _active_below_total(table, law.inputs) if law.active_n else None
    if below is None:
        return []
    n, of, least = below
    return [f"{law.name} defines N as the parameters active per token, and the runs' N is their total count "
            f"(N_total; {n} of the {of} runs are active in fewer, down to {least:.2g} of it): --map "
            f"N={table.written('N_active')} fits it on the active count"]


# An evaluation loss left beside the table's own ``loss`` column that differs from it by more than this median share is
# named (a Trainer's log: ``loss`` is the training loss)
EVAL_GAP = 0.01


def loss_warnings(table) -> list[str]:
    """A warning when the table's own column ``loss`` is read and a column that names an evaluation loss
    (``eval_loss``, ``val/loss``: `scalelab.runs.name_words.named_set_loss`) sits beside it, left untouched, with
    losses a median of more than `EVAL_GAP` apart: in a Hugging Face Trainer's log ``loss`` is the training loss."""
    import pandas as pd

    from scalelab.runs.name_words import named_set_loss

    if "loss" in table.invalid or table.renamed.get("loss", "loss") != "loss" or not len(table.df):
        return []
    loss = table.column("loss")
    out = []
    for c in table.df.columns:
        if c == "loss" or not isinstance(c, str) or not named_set_loss(c):
            continue
        other = pd.to_numeric(table.df[c], errors="coerce").to_numpy(float)
        ok = np.isfinite(loss) & np.isfinite(other) & (loss > 0) & (other > 0)
        if ok.any() and np.median(np.abs(np.log(other[ok] / loss[ok]))) > EVAL_GAP:
            gap = np.median(other[ok] / loss[ok]) - 1.0
            out.append(f"column 'loss' is read, and {c!r} beside it holds an evaluation loss a median "
                       f"{100 * gap:+.1f}% from it, left untouched (in a Trainer's log 'loss' is the training loss): "
                       f"to fit or forecast the evaluation loss, --map loss={c} (read(..., columns={{'loss': {c!r}}}))")
    return out


def design_warnings(table, inputs, laws=()) -> list[str]:
    """Everything the runs' design says about a fit of a law reading ``inputs``: `table_warnings`, `loss_warnings`,
    `family_warnings`,
    `ladder_warnings`, `sweep_warnings`, `sparse_count_warnings` and, for each of ``laws`` (the Laws fitted),
    `active_count_warnings`, why a curve table's checkpoints are read as runs
    (`RunTable.final_points`), and that rows were read as checkpoints of runs the table did not name (``run_id``
    implied, `scalelab.runs.rows.implied_runs`): what `fit`, `forecast`, the posteriors, `influence` and `suggest`
    report."""
    implied = ["rows with 'step' and no 'run_id' were read as the checkpoints of one run each (rows alike in every input "
               "but step, in step order, losses falling), each run's last one as its final loss: give run_id, or drop "
               "step, if each row is a run of its own (a sweep whose step counts a run's total steps)"]
    design = curve_warnings(table) if {"step", "lr"} <= set(inputs) else table_warnings(table)
    return (design + loss_warnings(table) + family_warnings(table, inputs) + ladder_warnings(table, inputs)
            + sweep_warnings(table, inputs)
            + sparse_count_warnings(table, inputs) + [w for law in laws for w in active_count_warnings(table, law)]
            + ([table.checkpoints] if table.checkpoints else [])
            + (implied if "run_id" in table.derived and not table.checkpoints else []))


def parameter_warnings(law, unconstrained: dict, margin: float = 1.0) -> list[str]:
    """Warnings for fitted parameters at the edge of their range.

    A parameter is at the edge when its unconstrained value lies more than ``margin`` range-widths
    outside the law's ``start_ranges`` (a scale or exponent running off to 0 or infinity), or when a
    sigmoid-bounded value is within 1e-6 of 0 or 1.
    """
    out = []
    for name, uname in zip(law.params, law.unconstrained_names):
        if uname not in unconstrained:
            continue
        u = float(unconstrained[uname])
        lo, hi = law.start_ranges[uname]
        width = hi - lo
        if not np.isfinite(u):
            out.append(f"parameter {name!r} of {law.name!r} is not finite")
            continue
        if u < lo - margin * width or u > hi + margin * width:
            out.append(f"parameter {name!r} of {law.name!r} is at the edge of its range ({uname} = {u:.3g}, more than "
                       f"{margin:g} width{'s' if margin != 1 else ''} beyond its start range {lo:g}..{hi:g}): the data "
                       f"do not determine it")
            continue
        tr = law.transform(name).name
        if tr == "unit":
            v = 1.0 / (1.0 + np.exp(-u))
            if v < 1e-6 or v > 1 - 1e-6:
                out.append(f"parameter {name!r} of {law.name!r} is at the edge of (0, 1): {v:.3g}")
    return out


# A law whose weight in a forecast is below this (shown as 0.00) does not carry it: pseudo-BMA's weights are never 0
CARRIES = 0.005


def weighted_parameter_warnings(fits: dict, weights: dict) -> list[str]:
    """`parameter_warnings` of the laws that carry a forecast: ``fits`` maps law names to ``{"law": Law, "params":
    {name: natural value}}`` (each law's fit to the whole table), ``weights`` names to their weight; laws of weight
    below `CARRIES` say nothing (they hardly move the forecast). Each warning ends with the law's weight."""
    return [f"{w} (weight {weights[nm]:.2f} in the forecast)" for nm, f in fits.items()
            if weights.get(nm, 0.0) >= CARRIES
            for w in parameter_warnings(f["law"], f["law"].to_unconstrained(f["params"]))]


__all__ = ["table_warnings", "curve_warnings", "ladder_warnings", "unit_warnings", "family_warnings", "design_warnings", "parameter_warnings", "weighted_parameter_warnings", "CARRIES"]
