"""Cells read as labels: run ids, families, groups, the values of a column no law reads.

The one conversion of a column to text. ``Series.astype(str)`` turns a missing cell into the text 'nan' under
pandas 2 but keeps it missing (a float NaN among strings) under pandas 3, where sorting, ``np.unique`` and
grouping the labels then fail or drop those rows. Here a missing cell (NaN, None, pd.NA) is the label `MISSING`
under both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING = "nan"


def as_text(values) -> pd.Series:
    """``values`` (a Series, array or list) as a Series of text, a missing cell as `MISSING`; numbers as ``str()``
    writes them ('2.5', '3'), except that a column of decimals whose every value is whole is written as whole
    numbers ('1', not '1.0': a column of integers with one empty cell is read as decimals). The index of a Series
    is kept."""
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if pd.api.types.is_float_dtype(s.dtype):
        v = s.to_numpy(float)
        ok = np.isfinite(v)
        if ok.any() and np.all(v[ok] == np.round(v[ok])) and np.all(np.abs(v[ok]) < 2.0 ** 53):
            s = s.astype(object).where(~ok, pd.Series(np.where(ok, v, 0.0).astype(np.int64), index=s.index))
    missing = s.isna()
    if missing.any():  # only then is each cell looked at: a column of text is read as it is (run ids of long curves)
        s = s.astype(object).where(~missing, MISSING)
    return s.astype(str)


__all__ = ["as_text", "MISSING"]
