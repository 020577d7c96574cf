"""The candidate laws of a forecast: every loss law whose inputs the table has (or the named ones), kept
only where the runs can feed them, the targets can ask them and the table can support them.

Each ``answerable``/``readable``/``supported``/``judged`` returns ``(kept Laws, dropped names)`` so that `scalelab.forecast`
can say in a note why a law was no candidate.
"""

from __future__ import annotations

import numpy as np

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.forecast.calibrate import viable
from scalelab.laws.base import is_curve_law
from scalelab.runs.columns import numbers
from scalelab.runs.sizes import GROUP_SPAN, size_groups

# Laws a forecast never considers by default: they model something else than a loss ladder of
# N and D (broken power laws of one input and the hyper-parameter laws).
NOT_CANDIDATES = ("bnsl", "bnsl2")

# Inputs that add an axis to a dense law of N and D (experts, sparsity, granularity, data density): with one value in
# every run and the targets, the law's terms in them are not identified and it answers as a dense law. (Unique tokens
# U_D are not among them: with one U_D, the tokens beyond it still tell repeated data from fresh.)
AXES = ("E", "S", "G", "density")


def candidates(table: _runs.RunTable, laws="auto") -> list:
    """The candidate Laws: ``"auto"`` = every loss law whose inputs the table has, else the named ones."""
    if laws == "auto" or laws is None:
        return [l for l in _laws.all_laws() if l.target == "loss" and l.name not in NOT_CANDIDATES
                and not is_curve_law(l) and all(c in table.columns for c in l.inputs)]
    if isinstance(laws, str):
        laws = [s.strip() for s in laws.split(",") if s.strip()]
    if not len(laws):
        raise ValueError("laws names no law; give 'auto' (the default: every loss law the table can answer), "
                         "one name, or several (a list, or names separated by commas); see `scalelab laws`")
    out = []
    for name in laws:
        law = _laws.get(name)
        missing = [c for c in law.inputs if c not in table.columns]
        if missing:
            raise _runs.RunTableError(f"law {law.name!r} needs column(s) {missing}; the table has {table.columns}")
        out.append(law)
    return out


def _split(cands: list, ok) -> tuple[list, list]:
    """``(kept Laws, dropped names)`` of the candidates by ``ok``; every candidate kept when none is ok, so
    that the error that follows names what they all lack."""
    if not any(ok):
        return list(cands), []
    return [l for l, k in zip(cands, ok) if k], [l.name for l, k in zip(cands, ok) if not k]


def answerable(cands: list, columns) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws whose inputs the targets' ``columns`` give (a column
    of the runs that the targets leave out, e.g. experts ``E`` beside a dense ladder, makes its laws no
    candidates); all of them when none is, so that the error names what the targets lack."""
    return _split(cands, [all(c in columns for c in l.inputs) for l in cands])


def readable(table: _runs.RunTable, cands: list) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws whose inputs hold valid values in the runs (an export's
    ``E`` column, empty for its dense runs, makes the MoE laws no candidates instead of failing the forecast);
    all of them when none is, so that the error names the column."""
    return _split(cands, [not any(c in table.invalid for c in l.inputs) for l in cands])


def idle_axes(table: _runs.RunTable, targets) -> dict[str, float]:
    """``{column: value}``: the `AXES` inputs (experts, sparsity, ...) that every run and every target (``targets``, a
    frame of `target_frame`) hold at one value. A target at another value leaves the column out, for
    `target_table.check_spread` to refuse."""
    out = {}
    for c in AXES:
        if c not in table.columns or c in table.invalid or c not in targets.columns:
            continue
        have = np.unique(table.column(c))
        if len(have) == 1 and np.allclose(numbers(targets[c], c).to_numpy(), have[0], rtol=1e-6):
            out[c] = float(have[0])
    return out


def varied(cands: list, idle) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws that read none of the ``idle`` inputs (`idle_axes`; ``E = 1``
    throughout: a MoE law with nothing to learn about experts, whose unidentified terms would only perturb the
    weights of the others); all of them when none is."""
    return _split(cands, [not any(c in idle for c in l.inputs) for l in cands])


def varying_axes(table: _runs.RunTable) -> tuple[str, ...]:
    """The `AXES` inputs (experts, sparsity, ...) that hold two or more values among the runs."""
    return tuple(c for c in AXES if c in table.columns and c not in table.invalid
                 and len(np.unique(table.column(c))) > 1)


def seeing(cands: list, axes) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws that read every one of the varying ``axes`` (`varying_axes`)
    that some candidate reads. A dense law in a table of dense and MoE runs gives a MoE run the loss of a dense model
    of its N, blind to its experts: on Clark's S-Base runs read at their total parameters, the dense laws were 6-7%
    off the largest size where Wang's law at active parameters was 0.4%, and took 0.3 of the weight. Unique tokens are
    no such axis: laws of N and D describe a data-constrained ladder's near-fresh runs well (`AXES`)."""
    read = {a for a in axes if any(a in l.inputs for l in cands)}
    return _split(cands, [read <= set(l.inputs) for l in cands])


def supported(n_runs: int, cands: list) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws a table of ``n_runs`` runs supports (two runs per
    parameter, `viable`); when none is, the laws with the fewest parameters."""
    ok = viable(n_runs, [l.n_params for l in cands])
    if not ok.any():  # a tiny table: the laws with the fewest parameters
        ok = np.array([l.n_params == min(m.n_params for m in cands) for l in cands])
    return _split(cands, ok)


def judged(n_sizes: int, cands: list) -> tuple[list, list]:
    """``(kept, dropped names)``: the candidate Laws that the first rolling origin's training runs, ``n_sizes`` model
    sizes, can judge: at most two parameters per size, plus one (a law's size dependence fitted on fewer sizes is
    interpolated, as a law with more parameters than half the runs is; `supported`). All of them when none is.

    On an OLMo-ladder-shaped table (5 sizes, the largest forecast, one origin fitted on 3 sizes) the 9-parameter
    Farseer law won that one origin on some noise draws and missed the largest size by 2.3-2.5% where Chinchilla's
    form was 0.9% off: over 20 draws of three truths the mean error was 0.82-0.85% with it, 0.73-0.76% without
    (`benchmarks/forecast_shapes.py --shapes olmo5`). One size per two parameters, without the one, also took the
    7-parameter sub-optimal law from 3-size origins: neutral there, and 1.3-2.4 points worse on the Hitchhiker
    families with their two largest sizes held out, where it carries half the weight."""
    return _split(cands, [2 * n_sizes + 1 >= l.n_params for l in cands])


def screened(table: _runs.RunTable, asked, cands: list) -> tuple[list, dict, dict, tuple]:
    """``(kept Laws, dropped, idle, axes)``: the automatic candidates' screens in turn: `readable`, `answerable` (by
    the targets ``asked``, a frame of `target_frame`), `varied` (by `idle_axes`), `seeing` (by `varying_axes`) and
    `supported`. ``dropped``: ``{screen: names}`` for `dropped_notes`; ``idle`` and ``axes`` as the screens read them.
    (`judged` comes after, once the size groups of the laws that remain are known.)"""
    dropped = {}
    cands, dropped["readable"] = readable(table, cands)  # laws whose inputs the runs hold as numbers
    cands, dropped["answerable"] = answerable(cands, asked.columns)  # laws the targets can be asked of
    idle = idle_axes(table, asked)  # experts, sparsity, ... held at one value by every run and target
    cands, dropped["varied"] = varied(cands, idle)
    axes = varying_axes(table)  # experts, sparsity, ... that the runs vary in
    cands, dropped["seeing"] = seeing(cands, axes)  # laws blind to them
    cands, dropped["supported"] = supported(len(table), cands)  # at least two runs per parameter
    return cands, dropped, idle, axes


def size_column(table: _runs.RunTable, cands: list) -> str:
    """The column whose groups are the runs' model sizes (`size_groups`): N, or the candidate laws' first input when
    the table has no N. The first rolling origin trains on all but the largest group."""
    return "N" if "N" in table.columns else min(c for l in cands for c in l.inputs)


def automatic(table: _runs.RunTable, asked, cands: list, size_tol: float = 0.05, min_train_sizes: int = 3,
              span: float = GROUP_SPAN) -> tuple[list, dict, dict, tuple, str]:
    """``(kept Laws, dropped, idle, axes, size column)``: every screen of ``laws="auto"``'s candidates in turn
    (`screened`, then `judged` on the first origin's sizes when it has ``min_train_sizes``), and the column whose
    groups are the model sizes (`size_column`, read before `judged`). The screens read the table's design and the
    targets ``asked``, never the losses."""
    cands, dropped, idle, axes = screened(table, asked, cands)
    col = size_column(table, cands)
    first = int(size_groups(table.column(col), size_tol, span).max())
    if first >= min_train_sizes:
        cands, dropped["judged"] = judged(first, cands)  # at most two parameters per size, plus one
    return cands, dropped, idle, axes, col


def dropped_notes(table: _runs.RunTable, asked, dropped: dict, idle: dict, axes: tuple, kept: list,
                  n_sizes: int) -> tuple[str, ...]:
    """The notes saying why each law the screens left out is no candidate (``dropped`` of `screened`, with
    ``"judged"``: `judged`'s names, the first origin fitted on ``n_sizes`` sizes); ``kept``: the Laws that remain."""
    notes = ()
    if dropped.get("readable"):
        notes += (f"not candidates: {dropped['readable']}, whose inputs hold values no law can read in the runs: "
                  + "; ".join(dict.fromkeys(table.invalid[c] for n in dropped["readable"] for c in _laws.get(n).inputs
                                            if c in table.invalid)),)
    if dropped.get("answerable"):
        notes += (f"not candidates: {dropped['answerable']}, whose inputs the targets do not give (they have "
                  f"{list(asked.columns)})",)
    if dropped.get("varied"):
        notes += (f"not candidates: {dropped['varied']}: every run and target shares one value of an input they read "
                  f"({', '.join(f'{c} = {v:g}' for c, v in idle.items())}), so they would answer as dense laws with "
                  f"terms the runs cannot determine",)
    if dropped.get("seeing"):
        notes += (f"not candidates: {dropped['seeing']}: the runs vary in {', '.join(axes)}, which they do "
                  f"not read (they would give runs that differ only there one loss)",)
    if dropped.get("supported"):
        notes += (supported_note(len(table), kept, dropped["supported"]),)
    if dropped.get("judged"):
        notes += (judged_note(n_sizes, dropped["judged"]),)
    return notes


def judged_note(n_sizes: int, dropped: list) -> str:
    """The note on the laws `judged` left out when the first origin is fitted on ``n_sizes`` sizes (``dropped`` names)."""
    return (f"not candidates: {dropped}: the first rolling origin is fitted on {n_sizes} model sizes, and a law is "
            "judged on at most two parameters per size, plus one")


def supported_note(n_runs: int, kept: list, dropped: list) -> str:
    """The note on the laws `supported` left out of a table of ``n_runs`` runs (``kept`` Laws, ``dropped`` names),
    saying so when none has as few parameters as the runs support and the ones with the fewest answer anyway."""
    fewest = min(l.n_params for l in kept)
    return (f"{n_runs} runs support laws of at most {n_runs // 2} parameters (two runs per parameter): not candidates "
            f"here: {dropped}" + (f"; none has so few, so the laws with the fewest ({fewest}) answer"
                                  if fewest > n_runs // 2 else ""))
