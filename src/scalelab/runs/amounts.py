"""What a run's amounts imply of each other, and the checks of a prediction's inputs.

``C = 6 N D`` (``6 N_active D`` for a MoE run: its FLOPs follow its active parameters), ``D = r N`` for a
ratio ``r`` of tokens per parameter (``tokens_per_param``) and ``D = U_D x epochs`` (unique tokens repeated): a
table, a forecast's targets or ``predict``'s options that give two of them get the third (`derived_amounts`), and
a C given beside N and D is checked against them (`compute_mismatch`), as is a ratio (`ratio_mismatch`). One rule
for a run table (`scalelab.runs.table`), a forecast's targets and ``predict``.

Units: N parameters, D tokens, C FLOPs, ``tokens_per_param`` tokens per parameter (20 for Chinchilla's optimum).
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from scalelab.runs.columns import POSITIVE, RANGES

# The columns `implied_amounts` reads
AMOUNT_COLUMNS = ("N", "N_active", "D", "C", "tokens_per_param", "U_D", "epochs")
# A C beside N and D more than this factor away from 6 N D (6 N_active D) is said to disagree with them. Below 3, so
# that the common mix-ups (C = 2 N D, the forward pass only: 1/3 of it; 3 x 6 N D) sit well inside the warned range
# and no rounding of C, N or D decides which rows are named; above what attention FLOPs add to 6 N D (1.1-2x)
C_FACTOR = 2.5
# What a typical C / (6 N D) (within 15%) suggests: the hint `compute_mismatch` adds
_C_HINTS = ((1 / 3, "C counted as 2 N D, the forward pass only?"), (1 / 6, "C counted as N D, without the 6?"),
            (1 / 8.64e19, "C in PF-days (8.64e19 FLOPs each)?"))
# A tokens-per-parameter ratio beside N and D whose D (ratio x N) is more than this factor away from the given D
# means something else (Farseer's released 'D/N' column holds five values unrelated to D / N)
RATIO_FACTOR = 1.5
# What a D derived from C (``C / (6 N)``) outside a run's range says of C (compute in PF-days, not FLOPs), and a D
# derived from a tokens-per-parameter ratio of its ratio (a percentage, or D / N the other way up)
FROM_C = " of C, from which it is derived as C / (6 N): C is in FLOPs"
FROM_RATIO = (" of tokens_per_param x N, from which it is derived: tokens_per_param is D / N (20 for 20 tokens per "
              "parameter)")


class Derived(NamedTuple):
    """A column `derived_amounts` derived: its ``values``, the given columns it came from (``sources``, through
    another derived column too), the ``note`` that says so, and what an implausible value says of its sources."""
    values: object
    sources: tuple[str, ...]
    note: str
    of_what: str


def _repeated(a: Mapping):
    """``U_D = D / epochs`` where some run repeated its data (a column of 1s says nothing of unique tokens)."""
    return a["D"] / a["epochs"] if np.any(np.asarray(a["epochs"], float) > 1) else None


# Every way a missing amount follows from others, in order: (column, the columns it needs, how, the note, what an
# implausible value says of the sources); for each column the first rule whose columns are there answers
_RULES = (
    ("D", ("C", "N"), lambda a: a["C"] / (6.0 * a["N"]), "D derived as C / (6 N) (no token column given)", FROM_C),
    ("D", ("tokens_per_param", "N"), lambda a: a["tokens_per_param"] * a["N"],
     "D derived as tokens_per_param x N (no token column given)", FROM_RATIO),
    ("D", ("U_D", "epochs"), lambda a: a["U_D"] * a["epochs"], "D derived as U_D x epochs (no token column given)",
     " of U_D x epochs"),
    ("N", ("C", "D"), lambda a: a["C"] / (6.0 * a["D"]), "N derived as C / (6 D) (no parameter column given)",
     " of C, from which it is derived as C / (6 D): C is in FLOPs"),
    ("N", ("tokens_per_param", "D"), lambda a: a["D"] / a["tokens_per_param"],
     "N derived as D / tokens_per_param (no parameter column given)", FROM_RATIO.replace("tokens_per_param x N",
                                                                                        "D / tokens_per_param")),
    ("C", ("N", "N_active", "D"), lambda a: 6.0 * a["N_active"] * a["D"], "C derived as 6 N D (N_active)", ""),
    ("C", ("N", "D"), lambda a: 6.0 * a["N"] * a["D"], "C derived as 6 N D", ""),
    ("U_D", ("D", "epochs"), _repeated, "U_D derived as D / epochs (no unique-token column given)", ""),
)


def derived_amounts(cols: Mapping) -> dict[str, Derived]:
    """What ``cols`` implies that it lacks (`_RULES`): without ``D``, ``D = C / (6 N)``, else ``tokens_per_param x
    N``, else ``U_D x epochs``; without ``N`` (and no total or active count, which a run table reads as N first),
    ``N = C / (6 D)``, else ``D / tokens_per_param``; without ``C``, ``C = 6 N D`` (``N_active`` when given: a MoE
    run's FLOPs follow its active parameters), D derived or given; without ``U_D``, ``U_D = D / epochs`` when some
    run repeated its data. ``cols`` maps names to arrays or Series of valid values (parameters, tokens, FLOPs, tokens
    per parameter, epochs); only the added columns are returned, each with where it came from (`Derived`)."""
    have, out = dict(cols), {}
    for column, needs, rule, note, of_what in _RULES:
        if column in have or not all(n in have for n in needs):
            continue
        values = rule(have)
        if values is None:
            continue
        sources = tuple(dict.fromkeys(s for n in needs for s in (out[n].sources if n in out else (n,))))
        have[column] = values
        out[column] = Derived(values, sources, note, of_what)
    return out


def implied_amounts(cols: Mapping) -> dict:
    """The values of `derived_amounts`: ``{column: values}``."""
    return {c: d.values for c, d in derived_amounts(cols).items()}


def compute_ratio(amounts: Mapping) -> np.ndarray | None:
    """``C / (6 N D)`` per row (``6 N_active D`` when given: `implied_amounts`), or None without all three."""
    if not {"N", "D", "C"} <= set(amounts):
        return None
    implied = implied_amounts({k: v for k, v in amounts.items() if k != "C"})["C"]
    return np.asarray(amounts["C"], float) / np.asarray(implied, float)


def compute_mismatch(amounts: Mapping, where) -> str | None:
    """``"C is not 6 N D on 3 of 35 rows (<where(rows)>): C is 1/3 of 6 N D (e.g. ...; C counted as 2 N D, the forward
    pass only?)"``: the rows whose C is more than `C_FACTOR` x off 6 N D (`compute_ratio`; compared on ``|ln ratio|``,
    far from the ratios of the usual mix-ups, 3 and 1/3), how many of the rows with a ratio they are, their median
    ratio and what it suggests (`_C_HINTS`); the rows named by ``where`` (row positions -> text) unless they are all of
    them. None when none is, or when ``amounts`` lacks one of the three. The one check of a run table's and a
    forecast's targets' C."""
    ratio = compute_ratio(amounts)
    if ratio is None:
        return None
    finite = np.isfinite(ratio) & (ratio > 0)
    off = np.flatnonzero(finite & (np.abs(np.log(np.where(finite, ratio, 1.0))) > np.log(C_FACTOR)))
    if not len(off):
        return None
    typical = float(np.exp(np.median(np.log(ratio[off]))))
    shown = f"1/{1 / typical:.3g} of" if typical < 1 else f"{typical:.3g} times"
    hint = next((h for r, h in _C_HINTS if abs(np.log(typical / r)) < np.log(1.15)), None)
    c = float(np.asarray(amounts["C"], float)[off[0]])
    rows = "" if len(off) == finite.sum() else f" ({where(off)})"  # every row: naming them says nothing
    # rows whose C (or N, D) is missing, zero or negative have no ratio: say so, not only the rows compared
    none = np.flatnonzero(~finite)
    lacking = f"; C / (6 N D) is no positive number on {len(none)} more ({where(none)})" if len(none) else ""
    return (f"C is not 6 N D on {len(off)} of {int(finite.sum())} rows{rows}: C is {shown} 6 N D (e.g. "
            f"C = {c:.3g} against 6 N D = {c / ratio[off[0]]:.3g}{'; ' + hint if hint else ''}){lacking}")


def ratio_mismatch(amounts: Mapping, where) -> str | None:
    """``"tokens per parameter (tokens_per_param) is not D / N in <where(rows)>"``: the rows whose ratio gives a D
    (`_RULES`: ``tokens_per_param x N``) more than `RATIO_FACTOR` x off the given D, named by ``where`` (row positions
    -> text); None when none is, or when ``amounts`` lacks one of the three."""
    if not {"tokens_per_param", "N", "D"} <= set(amounts):
        return None
    implied = implied_amounts({k: amounts[k] for k in ("tokens_per_param", "N")})["D"]
    off = np.flatnonzero(np.abs(np.log(np.asarray(implied, float) / np.asarray(amounts["D"], float)))
                         > np.log(RATIO_FACTOR))
    return f"tokens per parameter (tokens_per_param) is not D / N in {where(off)}" if len(off) else None


def value_problem(name: str, values) -> str | None:
    """What is wrong with the values of input ``name`` of a prediction (``"N must be > 0"``, or a parameter or token
    count outside a language-model run's range, `RANGES`: 7 is not 7B), or None: one rule for ``scalelab predict``'s
    options and `law_inputs`."""
    v = np.asarray(values, float)
    if not np.all(np.isfinite(v)):
        return f"{name} must be a finite number"
    if name in POSITIVE and not np.all(v > 0):
        return f"{name} must be > 0"
    lo, hi = RANGES.get(name, (-np.inf, np.inf))
    if not np.all((v >= lo) & (v <= hi)):
        return f"{name} of a language-model run lies in [{lo:.0e}, {hi:.0e}]; check the units (7e9 for 7B, not 7)"
    return None


def _read_numbers(name: str, value) -> np.ndarray:
    """``value`` (a number, array, or text such as '1.3B', as the CLI's ``--N 1.3B`` reads it: `columns.numbers`) as
    a float array; text that reads as no number is refused, naming the input."""
    try:
        return np.asarray(value, float)
    except (TypeError, ValueError):
        from scalelab.runs.columns import numbers

        flat = np.asarray(value, object).ravel()
        read = numbers(list(flat), name).to_numpy(float)
        bad = [v for v, r in zip(flat, read) if np.isnan(r)]
        if bad:
            raise ValueError(f"{name} = {bad[0]!r} reads as no number (give 1.3e9, or 1.3B)") from None
        return read.reshape(np.shape(value))


def law_inputs(law_name: str, needed, given: Mapping) -> dict:
    """The ``needed`` inputs of a prediction from ``given`` (``{name: number or array}``), checked as the CLI's
    ``predict`` checks its options: ``D = C / (6N)`` (or ``tokens_per_param x N``) or ``C = 6 N D`` derived when
    the law needs it (`implied_amounts`); an input the law neither reads nor needs for that refused (a typo, or
    ``C`` beside ``N`` and ``D`` that could disagree with them); each value checked by `value_problem` (finite, > 0
    where a count must be, ``N`` and ``D`` in a language-model run's range). Returns float arrays of the needed names.
    Raises ValueError naming the input."""
    needed = tuple(needed)
    values = {k: _read_numbers(k, v) for k, v in given.items()}
    try:
        np.broadcast_shapes(*(v.shape for v in values.values()))
    except ValueError:
        shown = ", ".join(f"{k} {v.shape}" for k, v in values.items())
        raise ValueError(f"inputs of shapes {shown} do not broadcast: give one value or the same number of values "
                         f"to each") from None
    used = set()
    for c, d in derived_amounts({k: values[k] for k in AMOUNT_COLUMNS if k in values}).items():
        if c in needed:
            values[c] = d.values
            used |= {"N", "N_active"} | set(d.sources)
    extra = [k for k in given if k not in needed and k not in used]
    twice = [k for k in extra if k in AMOUNT_COLUMNS]  # C beside N and D: an amount given both ways, which may disagree
    if twice and len(twice) == len(extra):
        have = [k for k in needed if k in given and k in AMOUNT_COLUMNS and k not in ("N", "N_active")]
        raise ValueError(f"law {law_name!r} reads {list(needed)}, and {twice} was given beside {have}: give each "
                         f"amount one way (D, or C with D = C / (6N), or tokens_per_param), not both, which could "
                         f"disagree")
    if extra:
        raise ValueError(f"law {law_name!r} does not read {extra}; its inputs are {list(needed)}")
    missing = [k for k in needed if k not in values]
    if missing:
        hint = " (or D from C and N: D = C / (6N), or from tokens_per_param and N)" if "D" in missing else ""
        raise ValueError(f"law {law_name!r} needs inputs {missing}{hint}")
    for k in needed:
        problem = value_problem(k, values[k])
        if problem:
            raise ValueError(f"{k} = {values[k]}: {problem}")
    return {k: values[k] for k in needed}
