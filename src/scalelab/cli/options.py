"""Option groups shared by the commands, declared once, and the helpers that read them.

Nothing here imports JAX or scalelab's numerical modules at import time: the parser is built
and the arguments are checked before any of them loads (``scalelab --help`` answers at once).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from scalelab.levels import count_problem


WARNED: list[str] = []  # warnings this command printed (``--strict`` turns any into exit 2)


def err(msg: str) -> None:
    """Progress, notes and warnings: stderr (stdout carries only the command's result)."""
    if msg.startswith("warning:"):
        WARNED.append(msg)
    print(msg, file=sys.stderr, flush=True)


def starts_value(text: str):
    """``--starts``: ``grid`` (the law's grid), ``auto`` (warm start, fit-many) or a number of random starts."""
    if text in ("grid", "auto"):
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'grid', 'auto' or a whole number of starts") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"the number of starts must be at least 1, got {n}")
    return n


class UsageError(ValueError):
    """A flag or file the user gave is unusable; `main` prints ``error: ...`` and exits 2."""


def column_map(text) -> dict | None:
    """``--map loss=loss_validation,E=num_experts`` as ``{"loss": "loss_validation", "E": "num_experts"}``.

    ``text``: one string or the list of every ``--map`` given (the option may repeat). A comma starts a new
    pair only where ``NAME=`` follows, so a column whose name holds a comma maps too ('loss=loss (val, nats)');
    one name mapped to two columns is refused."""
    if not text:
        return None
    out = {}
    for item in (re.split(r",(?=\s*[A-Za-z_]\w*\s*=)", t) for t in ([text] if isinstance(text, str) else text)):
        for pair in item:
            name, sep, col = pair.partition("=")
            if not sep or not name.strip() or not col.strip():
                raise UsageError(f"--map {pair!r}: write CANONICAL=COLUMN[,CANONICAL=COLUMN...] "
                                 f"(e.g. loss=loss_validation)")
            if out.get(name.strip(), col.strip()) != col.strip():
                raise UsageError(f"--map: {name.strip()} given twice ({out[name.strip()]!r} and {col.strip()!r}); "
                                 f"give it once")
            out[name.strip()] = col.strip()
    return out


def count(minimum: int):
    """An argparse type: a whole number >= ``minimum`` (argparse names the flag in its error)."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        problem = count_problem(n, minimum)  # the words the Python API's count checks use
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return n

    return parse


def fraction(text: str) -> float:
    """An argparse type: a probability strictly between 0 and 1 (``--ci``)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1 (e.g. 0.95), got {v}")
    return v


def add_table(p) -> None:
    """The run table positional, ``--map``, ``--sep``, ``--drop-highest-loss`` and ``--family`` (read back by `read_table`)."""
    p.add_argument("data", help="run table: CSV (separator sniffed) or parquet")
    p.add_argument("--map", dest="column_map", metavar="NAME=COLUMN,...", action="append",
                   help="read these columns of the file as these names, e.g. loss=loss_validation,E=num_experts "
                        "(may repeat)")
    p.add_argument("--sep", default=None, help="CSV separator (default: sniffed among , ; tab |)")
    p.add_argument("--drop-highest-loss", type=count(0), default=0, metavar="K",
                   help="drop the K highest-loss runs first (Epoch drops 5 on the Chinchilla data)")
    p.add_argument("--family", metavar="NAME[,NAME...]",
                   help="keep only the runs of these families (values of the table's 'family' column)")


LAW_HELP = ("the law to use (default {default}), e.g. chinchilla, kaplan, wang2024_moe, clark2022_routed, bnsl; "
            "`scalelab laws` lists and describes every one")


def add_law(p, default: str | None = "chinchilla") -> None:
    """``--law NAME`` (checked when the command runs: an unknown name exits 2 listing the known ones)."""
    p.add_argument("--law", default=default, metavar="NAME", help=LAW_HELP.format(default=default))


def add_fit(p, *, fix: bool = True, seed: bool = False, max_iter: bool = False) -> None:
    """``--law``, ``--objective``, ``--delta``, ``--starts``, ``--max-iter`` (and ``--fix``, ``--seed``) of a point fit
    (the defaults of `scalelab.fit`: every command that fits a law fits it the same way)."""
    add_law(p)
    p.add_argument("--objective", default="huber", choices=["huber", "mse"],
                   help="huber (robust, Hoffmann/Epoch) or mse on log-loss residuals")
    p.add_argument("--delta", type=float, default=1e-3, help="Huber threshold on log-loss residuals")
    p.add_argument("--starts", type=starts_value, default="auto",
                   help="'grid' (the law's grid), 'auto' or a number of random starts; 'auto' (the default): "
                        "variable projection for laws with linear parameters, else the law's grid when it has one, "
                        "else 128 random starts")
    if max_iter:
        p.add_argument("--max-iter", type=count(1), default=200, metavar="N",
                       help="most Levenberg-Marquardt iterations per start (raise it if a fit does not converge)")
    if fix:
        p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter fixed (repeatable)")
    if seed:
        p.add_argument("--seed", type=int, default=0)


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def read_table(args, quiet: bool = False):
    """The run table named by ``args.data``, of the ``--family`` runs, less ``--drop-highest-loss`` rows; notes go
    to stderr (``quiet``: not, for a second reading of a table whose notes were said)."""
    from scalelab.runs import read

    family = getattr(args, "family", None)
    if family is not None:
        family = [f.strip() for f in family.split(",") if f.strip()]
        if not family:
            raise UsageError("--family: name at least one family (values of the table's 'family' column)")
    table = read(args.data, columns=column_map(getattr(args, "column_map", None)), sep=getattr(args, "sep", None),
                 family=family)
    if getattr(args, "drop_highest_loss", 0):
        table = table.drop_highest_loss(args.drop_highest_loss)
    for note in () if quiet else table.notes:
        err(f"note: {note}")
    return table


def dumps(obj) -> str:
    """``obj`` as strict JSON text (`scalelab.jsonable.plain`: NumPy values as numbers, a non-finite number as
    ``null``; Python's ``json`` would write bare ``NaN``/``Infinity`` tokens, which strict parsers refuse)."""
    from scalelab.jsonable import plain

    return json.dumps(plain(obj), allow_nan=False)


def law_rows(table, law):
    """``(rows, words)``: the rows ``law`` is fitted on (`scalelab.fit.problem.table_for`: a final-loss law on a
    curve table reads each run's last checkpoint) and them in words for a progress line ("20 runs", "4 runs (110
    checkpoints)"); the notes that choosing the rows adds go to stderr. ``law``: a Law, its name, or "auto" (laws
    chosen later: the rows of a final-loss law)."""
    from scalelab import laws
    from scalelab.fit.problem import curve_rows, table_for
    from scalelab.laws import is_curve_law

    law = law if law == "auto" or not isinstance(law, str) else laws.get(law)
    rows = table.final_points() if law == "auto" else table_for(table, law)
    notes = list(rows.notes[len(table.notes):])
    if law != "auto" and is_curve_law(law):  # a curve law: the rows it fits (`curve_rows`)
        _, fitted, said = curve_rows(rows)
        notes += said
        words = f"{rows.df['run_id'].nunique()} runs ({int(fitted.sum())} checkpoints)"
    else:
        words = f"{rows.df['run_id'].nunique()} runs ({len(rows)} checkpoints)" if rows.is_curve else f"{len(rows)} runs"
    for note in notes:
        err(f"note: {note}")
    return rows, words


def fixed_from(items, flag: str = "--fix") -> dict | None:
    """``--fix NAME=VALUE`` (repeatable) as ``{name: value}``, or None when none is given."""
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{flag} {item!r}: write NAME=VALUE")
        try:
            v = float(value)
        except ValueError:
            raise UsageError(f"{flag} {item!r}: {value!r} is not a number") from None
        if name.strip() in out and out[name.strip()] != v:
            raise UsageError(f"{flag} {name.strip()} given twice ({out[name.strip()]:g} and {v:g}); give it once")
        out[name.strip()] = v
    return out or None


def floats(text: str, flag: str = "") -> "np.ndarray":  # noqa: F821
    """'1e9,2e9' or '1e9' -> float64 NumPy array (``flag`` names the option in errors). Commas separate values,
    so a parameter, token or FLOP count written with thousands separators (--N 7,000,000,000) is refused rather
    than read as 7, 0, 0, 0 (a list of expert counts, --E 8,128,512, is read as the list it is). A count may carry
    a suffix (--N 7B, --D 1.4T: `scalelab.runs.columns.numbers`)."""
    import numpy as np

    from scalelab.runs.columns import GROUPED, numbers

    amount = flag.lstrip("-") in ("N", "N_total", "N_active", "D", "C", "allocate")
    if amount and "," in str(text) and re.fullmatch(GROUPED, str(text)):  # one count in a table's cell; here a list
        raise UsageError(f"{flag or 'value'} {text!r}: commas separate values here; write the number without "
                         f"thousands separators ({str(text).replace(',', '').strip()}, in e-notation, or with a suffix: 7B)")
    parts = [t for t in str(text).split(",") if t.strip()]
    if amount:  # a count may carry a suffix, as a table's may: --N 7B, --D 1.4T
        out = numbers(parts, "N").to_numpy()
        if np.isnan(out).any():
            raise UsageError(f"{flag or 'value'} {text!r}: could not read {parts[int(np.isnan(out).argmax())]!r} as a "
                             f"number (7e9, or 7B)")
    else:
        try:
            out = np.array([float(t) for t in parts], float)
        except ValueError as e:
            raise UsageError(f"{flag or 'value'} {text!r}: could not read numbers ({e})") from None
    if out.size == 0 or not np.all(np.isfinite(out)):
        raise UsageError(f"{flag or 'value'} {text!r}: give finite numbers, comma-separated")
    return out


def check_own_output(path, columns, flag, what, *, exact: bool = False, marker: tuple | None = None) -> None:
    """An existing ``path`` is overwritten only when it is this command's own earlier output: a table
    holding ``columns`` (exactly those, and the marker's, with ``exact``) and, with ``marker = (column, value)``,
    that column with ``value`` on every row (the rule `scalelab.proxy.sweep.check_target` applies to a sweep's
    ``written_by``). Without a marker the columns alone decide, which a hand-written table of the same columns
    passes: give one where a user writes such tables (a ``step, lr`` schedule). A user's table or any other file
    is refused before any work, and left untouched."""
    from scalelab.runs import RunTableError, io

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {str(p)!r} is a directory; give a file name (.csv or .parquet)")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise UsageError(f"{flag} {str(p)!r}: directory {str(p.parent)!r} does not exist")
    if not p.exists():
        return
    want = set(columns) | ({marker[0]} if marker else set())
    try:
        df = io.read_frame(p)
        have = set(df.columns)
        ours = have == want if exact else want <= have
        if ours and marker:
            ours = len(df) > 0 and bool((df[marker[0]].astype(str) == marker[1]).all())
    except (RunTableError, ValueError, OSError):
        ours = False
    if not ours:
        mark = f" (no {marker[0]!r} column reading {marker[1]!r} on every row)" if marker else ""
        raise UsageError(f"{flag} {str(p)!r} exists and is not {what}{mark}; it is left untouched: choose another "
                         f"file, or remove it first")


def law_inputs(args, law, extra=()) -> dict:
    """The law's inputs (and ``extra`` ones) from ``--N``, ``--D``, ... options (comma-separated numbers).

    Each option gives one value or the same number of values as the others; inputs that are counts
    or sizes (N, D, E, ...) must be > 0 (a loss at N = 0 or N < 0 is not a number)."""
    from scalelab.laws import is_curve_law
    from scalelab.runs.amounts import value_problem

    if is_curve_law(law):  # a curve law reads whole schedules, not one value per input
        raise UsageError(f"law {law.name!r} is a learning-curve law: it predicts the loss along whole schedules "
                         f"(run_id, step, lr rows), which predict's options cannot give; use `scalelab forecast "
                         f"CURVES.csv --law {law.name} --at SCHEDULES.csv`, or scalelab.curves.predict_table(fit, "
                         f"SCHEDULES.csv) in Python")
    inputs = {}
    for name in (*law.inputs, *extra):
        value = getattr(args, name, None)
        if value is None:
            raise UsageError(f"law {law.name!r} needs --{name}")
        inputs[name] = floats(value, f"--{name}")
        problem = value_problem(name, inputs[name])  # the rule FitResult.predict applies too
        if problem:
            raise UsageError(f"--{name} {value!r}: {problem}")
    sizes = {n: v.size for n, v in inputs.items() if v.size != 1}
    if len(set(sizes.values())) > 1:
        raise UsageError("give one value or the same number of values to each input: "
                         + ", ".join(f"--{n} has {k}" for n, k in sizes.items()))
    return inputs


def add_param_source(p) -> None:
    """Where a point estimate comes from: ``--params``, ``--from FIT.json`` or ``--reference``; ``--law`` defaults to the
    law a ``--from`` file names, else chinchilla."""
    p.add_argument("--law", default=None, metavar="NAME",
                   help=LAW_HELP.format(default="the law a --from file names, else chinchilla"))
    p.add_argument("--params", help='natural parameters as JSON, e.g. \'{"E": 1.8, ...}\'')
    p.add_argument("--from", dest="fit_json", help="a saved `scalelab fit --json` output (or a report's report.json)")
    p.add_argument("--reference", help="a published reference of the law (e.g. hoffmann2022, epoch2024)")
    add_json(p)


def read_fit_json(path, flag: str = "--from") -> dict:
    """The object of a saved `scalelab fit --json` output (a dict with a ``params`` object), or a
    `UsageError` naming ``flag`` and the file (`scalelab.fit.saved.read_fit_json` reads it)."""
    from scalelab.fit.saved import read_fit_json as read

    try:
        return read(Path(path), label=f"{flag} {path}")
    except (OSError, ValueError) as e:
        raise UsageError(str(e)) from None


def carried_warnings(saved: dict | None, path) -> list[str]:
    """The warnings a saved fit (``saved``, the object of ``--from`` ``path``) carried (identifiability, no convergence,
    no decaying run, ...), said again on stderr (what ``--strict`` counts) and returned for the command's JSON: they
    hold for every use of the fit (`predict`, `allocate`, `schedule`)."""
    said = [f"the fit in {path} warned: {w}" for w in (saved or {}).get("warnings", []) if isinstance(w, str)]
    for w in said:
        err(f"warning: {w}")
    return said


def params_from(args, law, saved: dict | None = None) -> dict:
    """Natural parameters from exactly one of ``--params``, ``--from``, ``--reference`` (``saved``: the ``--from`` file's
    object when the caller has read it already)."""
    sources = [s for s in (args.params, args.fit_json, args.reference) if s]
    if len(sources) != 1:
        raise UsageError("give exactly one of --params JSON, --from FIT.json, --reference SOURCE")
    if args.reference:
        if args.reference not in law.reference:
            raise UsageError(f"--reference {args.reference!r}: law {law.name!r} has no such reference; "
                             f"known: {sorted(law.reference)}")
        return dict(law.reference[args.reference])
    if args.fit_json:
        path = Path(args.fit_json)
        obj = saved if saved is not None else read_fit_json(path)
        if obj.get("law") not in (None, law.name) and obj.get("law") not in law.aliases:
            raise UsageError(f"--from {path}: holds a fit of law {obj.get('law')!r}, not {law.name!r} (add --law "
                             f"{obj.get('law')})")
        params, flag = obj["params"], f"--from {path}"
    else:
        try:
            params = json.loads(args.params)
        except json.JSONDecodeError as e:
            raise UsageError(f"--params: not JSON ({e}); write e.g. '{{\"E\": 1.8, \"A\": 406.4, ...}}'") from None
        if not isinstance(params, dict):
            raise UsageError("--params: give a JSON object of parameter values")
        unknown = [k for k, v in params.items() if k not in law.params and not isinstance(v, dict)]
        if unknown:  # a typed parameter the law does not have (another law's, or a misspelling) is no silent extra
            named = ", ".join(repr(k) for k in unknown)
            raise UsageError(f"--params: {named} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} "
                             f"of law {law.name!r}, whose parameters are {list(law.params)}")
        flag = "--params"
    if any(isinstance(v, dict) for v in params.values()):  # a `bayes --json` summary: medians, not one fit
        err(f"note: {flag}: the posterior's per-parameter medians are read as a point fit (they need not lie on the "
            f"law's best fit together); for credible intervals save the posterior (bayes --save P.nc) and give "
            f"--posterior P.nc")
    from scalelab.laws.given import natural_params

    try:
        return natural_params(params, law, flag)
    except ValueError as e:
        raise UsageError(str(e)) from None


__all__ = ["carried_warnings", "check_own_output", "count", "fraction", "err", "starts_value", "add_table", "add_fit",
           "add_json", "read_table", "fixed_from", "floats", "law_inputs", "dumps", "law_rows", "add_param_source",
           "params_from", "UsageError", "column_map", "add_law", "LAW_HELP"]
