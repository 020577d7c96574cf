"""The values of a run table's known numeric columns, checked: `check_numeric` says what is wrong, naming the file's
lines, for `from_dataframe` to refuse the column when a law uses it (and carry it untouched otherwise)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from scalelab.labels import as_text
from scalelab.runs.cells import marked
from scalelab.runs.columns import LOSS_MAX, POSITIVE, RANGES, numbers
from scalelab.runs.rows import diverged, named_rows

# What a loss cell that is no number (empty, infinite, "diverged") means, said after the lines that hold one
LOSSLESS = ": runs that crashed or diverged have no loss to fit; drop those rows (scalelab forecast leaves them out)"


def check_numeric(raw: pd.Series, col: str, source: str, lines: Mapping | None = None,
                   positive: bool = True) -> tuple[str | None, pd.Series]:
    """``(what is wrong with column ``col`` of a run table or None, its float values)``: every value a number, finite,
    positive where the column must be (`POSITIVE`), within its plausible range (`RANGES`: counts of a language-model
    run), a loss in nats per token that varies; the message names ``source`` and the file lines (``lines``: index
    label -> line) of the rows at fault."""
    rows = lambda mask: named_rows(raw.index[mask], lines=lines)  # noqa: E731
    values = numbers(raw, col)
    bad = (values.isna() & raw.notna()).to_numpy()
    if bad.any():  # a word says the run has no result (left out where read); a number written with other text does not
        worded = not as_text(raw[bad]).str.contains(r"\d").any()
        said = (LOSSLESS if col == "loss" else "") if worded else ": write each as a plain number"
        return (f"{source}: column {col!r} has non-numeric values in {rows(bad)} (e.g. {raw[bad].iloc[0]!r})"
                + said), values
    values = values.astype(float)
    v = values.to_numpy()
    nonfinite = ~np.isfinite(v)
    if nonfinite.any():
        return (f"{source}: column {col!r} has NaN or infinite values in {rows(nonfinite)}"
                + (LOSSLESS if col == "loss" else "")), values
    if positive and col in POSITIVE:
        nonpos = v <= 0
        if nonpos.any():
            return f"{source}: column {col!r} must be > 0; {rows(nonpos)} are zero or negative", values
    if col == "S":
        out = (v < 0) | (v >= 1)
        if out.any():
            return f"{source}: column 'S' (sparsity) must lie in [0, 1); {rows(out)}", values
    if col in RANGES:
        lo, hi = RANGES[col]
        out = (v < lo) | (v > hi)
        if out.any():
            return (f"{source}: column {col!r} has implausible values in {rows(out)} (e.g. {v[out][0]:.4g}); "
                    f"{col} of a language-model run lies in [{lo:.0e}, {hi:.0e}]: check the units"), values
    if col == "loss":
        out = v > LOSS_MAX
        if diverged(v).any():  # a few among plausible losses
            return (f"{source}: column 'loss' has values above {LOSS_MAX:g} nats in {rows(out)} (e.g. {v[out][0]:.4g}) "
                    f"among losses of at most {v[~out].max():.3g}: runs that diverged have no loss to fit; drop those "
                    f"rows (--drop-highest-loss {int(out.sum())}; scalelab forecast leaves them out)"), values
        if out.any():
            return (f"{source}: column 'loss' has implausible values in {rows(out)} (e.g. {v[out][0]:.4g}); "
                    f"a loss in nats per token lies in (0, {LOSS_MAX:g}]: is it a perplexity, or in bits x 1000?"), values
        if len(v) > 1 and np.ptp(v) == 0:
            return (f"{source}: column 'loss' has no variation (every run has {v[0]:.6g}): "
                    f"no law can be fitted to a constant"), values
    return None, values


def marked_note(raw: pd.Series, col: str, source: str, lines: Mapping | None = None) -> str | None:
    """A note naming the cells of column ``col`` read as a number only once what a paper's table writes beside it was
    taken away (`cells.unmarked`: '3.5348*', '4.60 ± 0.06', '~1.4B'), or None when there are none."""
    hit = marked(raw, col)
    if not hit.any():
        return None
    return (f"{source}: column {col!r} has {int(hit.sum())} values written with a footnote mark, an uncertainty, an "
            f"approximation sign or a unit (e.g. {raw[hit].iloc[0]!r}, in {named_rows(raw.index[hit], lines=lines)}): "
            f"each is read as its number (a footnote mark may say that the run is unlike the others)")


def precision_note(raw: pd.Series, col: str, source: str) -> str | None:
    """A note when column ``col`` is stored as float16 (None otherwise): read as given, but float16 keeps about 3
    significant digits, a relative step of 2^-10 to 2^-11 (near a loss of 3 nats, 0.002 nats: 0.07%), as large as
    the differences between runs a law is fitted to, and holds no magnitude above 65504 (a count of parameters or
    tokens becomes inf, which `check_numeric` then refuses). The step is said at the column's median magnitude."""
    if raw.dtype != np.float16:
        return None
    v = np.abs(raw.to_numpy(np.float64))
    v = v[np.isfinite(v) & (v > 0)]
    where = ""
    if len(v):
        typical = float(np.median(v))
        step = float(np.spacing(np.float16(typical)))
        where = f": near {typical:.4g} its values are rounded to steps of {step:.2g} ({100 * step / typical:.2g}%)"
    return (f"{source}: column {col!r} is float16, which keeps about 3 significant digits{where}, as large as the "
            f"differences between runs a scaling law is fitted to (and no value above 65504); read as given: write "
            f"the column from its source as float32 or float64 (converting the float16 values does not bring the lost "
            f"digits back)")


__all__ = ["check_numeric", "precision_note", "marked_note", "LOSSLESS"]
