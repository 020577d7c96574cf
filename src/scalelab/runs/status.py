"""Runs that a status column marks as not finished: a W&B export's ``State`` (crashed, failed, killed, running) or a
``finished`` flag that is False. Their last logged loss is no final loss, and a few of them (5-20% above the law)
had widened a forecast's interval four- to tenfold with no word (the tenth export trial), so a forecast leaves them
out and says so (`unfinished`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalelab.labels import as_text

# A column of one of these names (any case) holds each run's state; a run is left out only where the column also names
# finished runs (a column of states alone, every run 'running', says nothing of which to trust)
STATE_NAMES = ("state", "status", "run_state", "run_status")
# (a run tracker's words: W&B's, a scheduler's; 'stopped' may be an early stop that finished, 'error' an evaluation's)
ENDED = ("finished", "completed", "complete", "done", "success", "succeeded")
NOT_ENDED = ("crashed", "failed", "killed", "running", "preempted", "cancelled", "canceled", "timeout", "timed out",
             "diverged")
# a flag column: True (finished) or False, written as booleans, 1/0, yes/no or true/false
FLAG_NAMES = ("finished", "done", "is_finished", "is_done")
# Runs marked so are left out when at most this share of the table: a column that marks most runs means something else
MOST = 0.5
_TRUE, _FALSE = ("true", "1", "1.0", "yes", "y", "t"), ("false", "0", "0.0", "no", "n", "f")


def unfinished(df: pd.DataFrame) -> tuple[np.ndarray, str | None, str]:
    """``(mask, column, what)``: the rows a status column marks as not finished, the column, and what it says of them
    (``crashed: 4, running: 1``); an all-False mask, None and '' when no column does. A state column counts only
    when it names finished runs too, a flag column only when it is all True/False and holds both."""
    for col in df.columns:
        key = str(col).strip().lower()
        if key not in STATE_NAMES + FLAG_NAMES:
            continue
        text = as_text(df[col]).str.strip().str.lower()
        if key in STATE_NAMES:
            bad = text.isin(NOT_ENDED).to_numpy()
            if bad.any() and text.isin(ENDED).any():
                counts = text[bad].value_counts(sort=True)
                return bad, str(col), ", ".join(f"{k}: {v}" for k, v in counts.items())
        elif text.isin(_TRUE + _FALSE).all():
            bad = text.isin(_FALSE).to_numpy()
            if bad.any() and not bad.all():
                return bad, str(col), f"{col} false: {int(bad.sum())}"
    return np.zeros(len(df), bool), None, ""


def without_unfinished(table) -> tuple:
    """``(table, said)``: the `scalelab.runs.RunTable` less the runs `unfinished` marks, and what was left out, said
    (None when nothing was); when they are more than `MOST` of the runs, every run is kept, and that is said."""
    bad, col, what = unfinished(table.df)
    if not bad.any():
        return table, None
    if bad.sum() > MOST * len(bad):
        return table, (f"{table.source}: column {col!r} marks {int(bad.sum())} of {len(bad)} runs as not finished "
                       f"({what}): most of the table, so it is read as saying something else and every run is fitted "
                       f"(to leave them out, drop those rows)")
    return table.select(~bad), (f"{table.source}: column {col!r} marks {table.rows(table.df.index[bad])} as not "
                                f"finished ({what}): {int(bad.sum())} of {len(bad)} runs left out, as their last loss "
                                f"is no final one (to fit them, drop the column)")


__all__ = ["unfinished", "without_unfinished", "STATE_NAMES", "FLAG_NAMES", "ENDED", "NOT_ENDED"]
