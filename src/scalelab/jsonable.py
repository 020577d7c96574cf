"""Values as strict JSON takes them: one conversion for every ``to_json`` and file that needs it.

NumPy scalars and arrays become Python numbers and lists, tuples lists, and a number that is not
finite (an interval with no bootstrap, a minimum that is not bracketed) ``null``: Python's ``json``
would write a bare ``NaN`` token, which strict parsers refuse. Anything else that JSON has no type
for is written as its text.
"""

from __future__ import annotations

import numpy as np


def plain(v):
    """``v`` (dicts, lists, tuples, arrays, numbers, text) as JSON-ready Python values, non-finite numbers None."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if v is None or isinstance(v, str):
        return v
    return str(v)


__all__ = ["plain"]
