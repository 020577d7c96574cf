"""How a cell of a run table or a forecast's targets reads as a number (`numbers`): plain numbers, counts with a suffix
('125M'), thousands separators, and what a paper's table writes beside a number (`unmarked`). No knowledge of columns
beyond which ones hold counts (`AMOUNTS`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalelab.labels import as_text

# Counts may be written with a suffix, as model cards and exports do ('125M', '1.3B', '300B', '2T'): thousand,
# million, billion, trillion, either case.
AMOUNTS = ("N", "N_total", "N_active", "D", "C", "U_D")
SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_SUFFIXED = r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmMbBtT])\s*$"
# a whole count in thousands separators, quoted in a CSV: "73,824,672", "73 824 672" (spaces, no-break spaces or
# apostrophes) or, with two groups at least, "73.824.672" (a European export; "1.300" is left a decimal)
GROUPED = r"\s*\d{1,3}(?:(?:,\d{3})+|(?:[ \u00a0\u202f'\u2019]\d{3})+|(?:\.\d{3}){2,})\s*"
# A suffixed count with a decimal comma ('2,7B' in a semicolon CSV with decimal commas): a comma followed by other than
# exactly three digits is no thousands separator. '1,300B' (1.3e9 or 1.3e12?) stays unread.
_DECIMAL_COMMA = r"\s*[+]?\d+,(?:\d{1,2}|\d{4,})\s*[kKmMbBtT]\s*"


def numbers(values, col: str | None = None) -> pd.Series:
    """A column's values as float64 (NaN where a value does not read as a number), as ``pd.to_numeric`` reads
    them; for a count column (`AMOUNTS`: N, D, C, ...) also a number with a suffix, '125M' = 1.25e8, '1.3B' =
    1.3e9, '2T' = 2e12 (`SUFFIXES`, either case), also with a decimal comma ('2,7B' = 2.7e9; not '1,300B', which
    could be either), and a whole number in thousands separators, '73,824,672'. Any column's number may carry what a
    paper's table writes beside it (`unmarked`: '3.5348*', '4.60 ± 0.06', '~1.4B', '2.31 nats'). The one reading of a
    number in run tables and targets."""
    raw = values if isinstance(values, pd.Series) else pd.Series(values)
    out = pd.to_numeric(raw, errors="coerce").astype(float)
    text = out.isna() & raw.notna()
    if text.any():  # a number with a footnote mark, an uncertainty or its unit: the number (`unmarked`)
        out[text] = pd.to_numeric(unmarked(as_text(raw[text]), col), errors="coerce")
        text = out.isna() & raw.notna()
    if col in AMOUNTS and text.any():
        cells = unmarked(as_text(raw[text]), col)
        grouped = pd.to_numeric(cells.where(cells.str.fullmatch(GROUPED)).str.replace(r"[,. \u00a0\u202f'\u2019]", "",
                                                                                      regex=True), errors="coerce")
        cells = cells.where(~cells.str.fullmatch(_DECIMAL_COMMA), cells.str.replace(",", ".", regex=False))
        parts = cells.str.extract(_SUFFIXED)
        out[text] = grouped.fillna(pd.to_numeric(parts[0], errors="coerce") * parts[1].str.lower().map(SUFFIXES))
    return out


# What a paper's or a README's table writes beside a number: a footnote mark after it ('3.5348*', '0.05B†'), its
# uncertainty ('4.60 ± 0.06', '4.60 +/- 0.06', '4.60 (0.06)'), an approximation sign before it ('~1.4B'), and for a loss
# its unit ('2.31 nats')
_MARK_AFTER = r"[\s*†‡§¶]+$"
_UNCERTAINTY = r"\s*(?:±|\+/-|\+-|\()\s*(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)\s*\)?\s*$"  # (its value)


def unmarked(cells: pd.Series, col: str | None = None) -> pd.Series:
    """Text cells with what a paper's table writes beside a number taken away (a footnote mark, an uncertainty below
    half the number, an approximation sign, and for ``col`` = loss the unit nats), for `numbers` to read the number
    left. A cell with none of them is returned as it is; '4.98 (5.28)' (a second number, not an uncertainty) too."""
    out = cells.str.replace(_MARK_AFTER, "", regex=True)
    spread = pd.to_numeric(out.str.extract(_UNCERTAINTY)[0], errors="coerce")  # the uncertainty's value, if any
    bare = out.str.replace(_UNCERTAINTY, "", regex=True)
    out = out.where(~(spread < 0.5 * pd.to_numeric(bare.str.strip(), errors="coerce").abs()).fillna(False), bare)
    out = out.str.replace(_MARK_AFTER, "", regex=True).str.replace(r"^\s*[~≈]\s*", "", regex=True)
    if col == "loss":
        out = out.str.replace(r"\s*nats?(?:\s*(?:/|per)\s*token)?\s*$", "", regex=True, case=False)
    return out


def marked(raw: pd.Series, col: str | None = None) -> np.ndarray:
    """Which cells of ``raw`` read as a number only through `unmarked` (a footnote mark, an uncertainty, ...)."""
    text = (pd.to_numeric(raw, errors="coerce").isna() & raw.notna()).to_numpy()
    if not text.any():
        return text
    cells = as_text(raw[text])
    changed = (unmarked(cells, col) != cells).to_numpy()
    out = np.zeros(len(raw), bool)
    out[np.flatnonzero(text)[changed]] = numbers(raw[text][changed], col).notna().to_numpy()
    return out


__all__ = ["numbers", "unmarked", "marked", "AMOUNTS", "SUFFIXES", "GROUPED"]
