"""The column vocabulary of a run table: canonical names, their aliases, plausible ranges, and the
renaming of a table's columns to the canonical names.

Common aliases are renamed (``params``/``num_params`` -> ``N``, ``tokens`` -> ``D``,
``flops``/``Training FLOP`` -> ``C``, ...). A text column under an alias's name (``data`` holding
dataset names) and an alias beside its canonical column (``val_loss`` beside ``loss``) are extra
columns, left untouched with a note: the canonical column is read. Two aliases of one absent column
(``params`` beside ``num_params``), or a column name given twice, make that column invalid: which one
is meant is unknown (unless they hold the same values, or one is a single letter, a count with its unit or a
non-embedding count, which yields). A count named
with its unit (``params_M``, ``tokens_B``) is read multiplied by it; a name no alias lists is read by its words
(`scalelab.runs.name_words`: ``total_parameter_count``, ``loss_validation``). `scalelab.runs.table` validates the
values; `scalelab.runs.mapping` renames the columns a user names (``--map``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from scalelab.labels import as_text
from scalelab.runs.cells import AMOUNTS, GROUPED, SUFFIXES, numbers  # noqa: F401 (re-exported)
from scalelab.runs.name_words import WEAKER, loss_name, named_set_loss, non_embedding, perplexity_name, word_alias

NUMERIC = ("N", "N_total", "N_active", "D", "C", "loss", "E", "k", "S", "G", "U_D", "lr",
           "batch_size", "density", "step", "tokens_per_param", "epochs")
POSITIVE = ("N", "N_total", "N_active", "D", "C", "loss", "E", "k", "G", "U_D", "lr", "batch_size", "tokens_per_param",
            "epochs")
TEXT = ("run_id", "family")
# Tokens per parameter (D / N) of real language-model runs: from early checkpoints (~0.01) to small models trained
# far past Chinchilla (SmolLM2-135M on 2T tokens: 1.5e4). A table's median outside is a unit mistake.
TOKENS_PER_PARAM = (1e-3, 1e5)
# Plausible ranges: parameters and tokens of any language-model run lie in [1e3, 1e16]; a
# per-token loss in nats lies in (0, 20] (ln of a 10^8-token vocabulary is 18.4). Values outside
# are unit mistakes (loss in bits x 1e3, N in millions) or corrupt rows, never runs.
RANGES = {"N": (1e3, 1e16), "N_total": (1e3, 1e16), "N_active": (1e3, 1e16), "D": (1e3, 1e16),
          "tokens_per_param": TOKENS_PER_PARAM}
LOSS_MAX = 20.0

ALIASES = {
    "n": "N", "params": "N", "num_params": "N", "n_params": "N", "parameters": "N", "num_parameters": "N",
    "n_parameters": "N", "model size": "N", "model_size": "N", "nparams": "N", "model_params": "N",
    "non_embedding_params": "N", "non_embedding_parameters": "N", "parameter": "N", "model_parameters": "N",
    "total_params": "N_total", "n_params_total": "N_total", "params_total": "N_total",
    "total_parameters": "N_total", "num_params_total": "N_total", "num_total_params": "N_total",
    "n_active": "N_active", "active_params": "N_active", "activated_params": "N_active",
    "active_parameters": "N_active", "num_active_params": "N_active", "n_active_params": "N_active",
    "tokens_per_parameter": "tokens_per_param", "tpp": "tokens_per_param",
    "tokens_per_params": "tokens_per_param", "d/n": "tokens_per_param", "d_over_n": "tokens_per_param",
    "num_epochs": "epochs", "n_epochs": "epochs",
    "d": "D", "tokens": "D", "num_tokens": "D", "n_tokens": "D", "data": "D", "train_tokens": "D",
    "training_tokens": "D", "num_train_tokens": "D", "tokens_seen": "D", "tokens_trained": "D",
    "c": "C", "flops": "C", "compute": "C", "training flop": "C", "training_flops": "C",
    "train_flops": "C",
    "final_loss": "loss", "eval_loss": "loss", "val_loss": "loss", "l": "loss",
    "loss_final": "loss", "validation_loss": "loss", "validation loss": "loss", "test_loss": "loss",
    "eval/loss": "loss", "val/loss": "loss", "validation/loss": "loss", "lm_loss": "loss", "lm loss": "loss",
    "experts": "E", "num_experts": "E", "n_experts": "E", "top_k": "k", "sparsity": "S",
    "granularity": "G", "unique_tokens": "U_D", "u": "U_D", "learning_rate": "lr", "batch": "batch_size",
    "bs": "batch_size", "global_batch_size": "batch_size", "train_batch_size": "batch_size", "run": "run_id",
    "model": "family",
    # curve exports (W&B: Name, Step, _step, trainer/global_step); canonical names in capitals are `_SPELLED`
    "name": "run_id", "run_name": "run_id", "_step": "step",
    "global_step": "step", "trainer/global_step": "step",
    "d_tokens": "D", "dataset_size": "D", "data_size": "D", "total_tokens": "D",
    "compute_flops": "C", "total_flops": "C", "training_compute": "C", "train_compute": "C",
}
# A column's own unit in brackets after its name ('compute (FLOPs)', 'Loss (nats)', 'FLOPs (C)'): read as the name
# alone. Only a unit that is the column's own (never 'Loss (bits)') or its canonical name.
OWN_UNITS = {"N": ("params", "parameters", "count"), "N_total": ("params", "parameters", "count"),
             "N_active": ("params", "parameters", "count"), "D": ("tokens", "count"), "U_D": ("tokens", "count"),
             "C": ("flops", "flop"), "loss": ("nats", "nats/token", "nat/token")}
_BRACKETED = r"^(.+?)\s*(?:\(([^()]*)\)|\[([^\[\]]*)\])$"



# A canonical name of more than one letter written in another case or with spaces (``Batch Size``, ``LR``, ``U_d``)
# names its column, as an alias does (a single letter written small, ``e``, is no expert count). One table for both,
# the aliases first
_SPELLED = {c.lower(): c for c in (*NUMERIC, *TEXT) if len(c) > 1}
_NAMES = {**_SPELLED, **ALIASES}


def alias(name) -> str | None:
    """The canonical column an alias names (`ALIASES`, or a canonical name spelled otherwise: `_SPELLED`), read as a
    person writes it: any case, spaces or hyphens for underscores (``Training Tokens``, ``model-size``), a leading
    ``#`` for "number of" (``#Params``), and the column's own unit in brackets after it (``compute (FLOPs)``,
    ``Loss (nats)``: `OWN_UNITS`); None if none."""
    found = next((_NAMES[k] for k in _alias_keys(name) if k in _NAMES), None)
    m = None if found else re.match(_BRACKETED, str(name).strip())
    if m:
        base, unit = m.group(1), (m.group(2) if m.group(2) is not None else m.group(3)).strip()
        target = alias(base)
        if target and (unit == target or unit.lower() in OWN_UNITS.get(target, ())):
            return target
    return found


def _alias_keys(name) -> tuple[str, ...]:
    """The spellings of ``name`` looked up in `ALIASES`: lower case, then spaces and hyphens as underscores, each with
    and without a leading ``#``."""
    key = str(name).strip().lower()
    bare = key.lstrip("#").strip()
    return key, re.sub(r"[\s\-]+", "_", key), bare, re.sub(r"[\s\-]+", "_", bare)

# A count column named with its unit ('params_M', 'tokens_B', 'model_size (B)', 'tokens_billions'): an alias of
# N, D, ... whose values are multiplied by the unit on reading, with a note.
UNITS = {**SUFFIXES, **{w + s: f for w, f in (("thousand", 1e3), ("million", 1e6), ("billion", 1e9),
                                                ("trillion", 1e12)) for s in ("", "s")}}
_SCALE_WORD = r"thousands?|millions?|billions?|trillions?"
_UNIT_NAME = (rf"^(.+?)[ _]?(?:\((k|m|b|t|{_SCALE_WORD})\)|\[(k|m|b|t|{_SCALE_WORD})\]|_(k|m|b|t)|"
              rf"[ _]({_SCALE_WORD})|\((1e\d{{1,2}})\)|\[(1e\d{{1,2}})\])$")  # 'FLOPs (1E21)': a power of ten


# A count named with a power of ten written out ('Params (×10^6)', 'Tokens (x1e9)', 'N (10^6)'), or with its unit and
# a noun that names the count when the name before it does not ('Data (B tokens)', 'Size (M params)')
_POWER_NAME = r"^(.+?)[ _]?[(\[]\s*(?:[x×*]\s*)?(?:10\s*\^\s*|1e)(\d{1,2})\s*([a-z ]*?)\s*[)\]]$"
_UNIT_NOUN_NAME = r"^(.+?)[ _]?[(\[]\s*(k|m|b|t)\s+([a-z ]+?)\s*[)\]]$"

# A loss named in bits per token ('Loss (bits)', 'val_loss_bits', 'loss [bits/token]'): read in nats, x ln 2
_BITS_NAME = r"^(.+?)[ _]?(?:\(bits?(?:/tok(?:en)?)?\)|\[bits?(?:/tok(?:en)?)?\]|[ _]bits)$"


def unit_alias(name: str) -> tuple[str, float | str] | None:
    """``(canonical count column, factor)`` of a column named with its unit (``params_M`` -> ``("N", 1e6)``), or
    None: the name less its unit must be a count's canonical name (``N_M``, ``D_B``) or a longer than one letter alias
    of one (`AMOUNTS`). A loss named in bits per token (``Loss (bits)``) is ``("loss", ln 2)``: read in nats; a
    perplexity (``val_ppl``) is ``("loss", "ln")``: read as its log."""
    if perplexity_name(name):  # exp of the loss: read as its log (`unit_scale`)
        return "loss", "ln"
    bits = re.match(_BITS_NAME, str(name).strip(), flags=re.IGNORECASE)
    if bits and _names(bits.group(1).strip()) == "loss":
        return "loss", float(np.log(2.0))
    m = re.match(_UNIT_NAME, str(name).strip(), flags=re.IGNORECASE)
    if not m:
        return _spelled_unit(str(name).strip())
    base, unit = m.group(1).strip(), next(g for g in m.groups()[1:] if g).lower()
    target = _names(base)
    factor = UNITS[unit] if unit in UNITS else 10.0 ** int(unit[2:])
    return (target, factor) if target in AMOUNTS and (len(base) > 1 or base in AMOUNTS) else None


def _spelled_unit(name: str) -> tuple[str, float] | None:
    """`unit_alias` of a power of ten written out (``Params (×10^6)``, ``Tokens (x1e9)``) or of a unit with a noun
    (``Data (B tokens)``, ``Active (B params)``): the name read with its noun; a generic name (``Model``, ``Size``)
    takes the count its noun names. A name of something else with a count's noun (``Batch size (M tokens)``, ``Seq
    len (k tokens)``) is none: tokens of a batch or a context are no training tokens."""
    for pattern, factor in ((_POWER_NAME, lambda g: 10.0 ** int(g)), (_UNIT_NOUN_NAME, lambda g: UNITS[g.lower()])):
        m = re.match(pattern, name, flags=re.IGNORECASE)
        if not m:
            continue
        base, noun = m.group(1).strip(), m.group(3).strip()
        if not (len(base) > 1 or base in AMOUNTS):
            return None
        target = _names(base) if not noun else _names(f"{base} {noun}")
        if noun and target is None:
            of_noun = _names(noun)
            if of_noun in AMOUNTS and (base.lower() in GENERIC_BASES or _names(base) == of_noun):
                target = of_noun  # 'Model (B params)'; 'Tokens (B tokens)'
        return (target, factor(m.group(2))) if target in AMOUNTS else None
    return None


# Names that say only "how much" of something; a unit's noun after them says what ('Model (B params)': N)
GENERIC_BASES = {"size", "model", "model size", "data", "dataset", "data size", "count"}


def _names(base: str) -> str | None:
    """The column a name without its unit names: itself when canonical (``N`` in ``N_M``), else its alias, else its
    reading by words."""
    if base in NUMERIC:
        return base
    return alias(base) or (word_alias(base) or (None,))[0]


# The largest count a unit-named column may reach once multiplied: beyond, its values are counts already
# ('params_m' holding 3.2e9: x 1e6 would be 3e15 parameters)
SCALED_MAX = {"N": 1e13, "N_total": 1e13, "N_active": 1e13, "D": 1e15, "U_D": 1e15}


def unit_scale(values, name: str, factor: float | str, col) -> tuple[pd.Series, str]:
    """The values of a count column named with its unit (`unit_alias`), multiplied by ``factor``, and the note that says
    so; read as written when multiplied they would pass `SCALED_MAX` (a column whose values are counts already). A
    ``factor`` of ``"ln"`` reads a perplexity as the loss, its log."""
    v = numbers(values, name)
    if factor == "ln":  # a perplexity: the loss is its log
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(v.where(v > 0)), f"column {col!r} read as 'loss': the log of its perplexities"
    x = v.to_numpy(float)
    median = float(np.median(x[np.isfinite(x)])) if np.isfinite(x).any() else 0.0
    if median * factor > SCALED_MAX.get(name, np.inf):
        return v, (f"column {col!r} read as {name!r} as written, not x {factor:g}: its values are counts already "
                   f"(x {factor:g}, the median would be {median * factor:.3g})")
    if name == "loss":
        return v * factor, f"column {col!r} read as 'loss' in nats: its values are bits per token, x ln 2"
    return v * factor, f"column {col!r} read as {name!r} in units of {factor:g} (its values x {factor:g})"


class RunTableError(ValueError):
    """Raised for bad run data; the message names the column, rows and a fix."""


def duplicate_columns(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict, list[str]]:
    """``(df, invalid, notes)``: the first of each repeated column name kept. A name repeated with the same values in
    every copy (one column exported twice) is read, with a note; repeated with other values, it is refused when used:
    which copy is meant is unknown."""
    invalid, notes = {}, []
    names = [str(c) for c in df.columns]
    dup = df.columns.duplicated()
    for name in dict.fromkeys(n for n, d in zip(names, dup) if d):
        where = [i + 1 for i, n in enumerate(names) if n == name]
        key = name if name in NUMERIC or name in TEXT else (alias(name) or name)
        copies = [df.iloc[:, i - 1] for i in where]
        if all(_same_copy(copies[0], c, key) for c in copies[1:]):
            notes.append(f"column {name!r} appears {len(where)} times (columns {', '.join(map(str, where))}) with the "
                         f"same values: read once")
            continue
        invalid[key] = (f"{source}: column {name!r} appears {len(where)} times (columns "
                        f"{', '.join(map(str, where))}) with different values; keep one, or rename the others")
    return df.loc[:, ~dup], invalid, notes


def _same_copy(a: pd.Series, b: pd.Series, key: str) -> bool:
    """Whether two copies of a column hold the same cells (numbers within 1e-9 for a numeric column)."""
    if a.equals(b):
        return True
    try:
        return key in NUMERIC and _same_values(a, b, key)
    except (ValueError, TypeError):
        return False


def canonical_names(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list[str], dict]:
    """Aliases renamed. Beside its canonical column (``val_loss`` beside ``loss``) an alias is an extra
    column, left untouched with a note: the table named the column to read. Two aliases of one column
    and no canonical one (``params`` beside ``num_params``) make that column invalid: which is meant is unknown,
    unless they hold the same values (one is read, the other is a repeat) or one of them is a single letter
    (``d`` beside ``tokens``: the longer name is read, and ``d``, often a model width, is left untouched), a count
    with its unit, or a non-embedding count (``non_embedding_params`` beside ``params``, or beside ``total_params`` in
    a table with no experts, sparsity, active count or plain count: the total is read as N).
    A count named with its unit (``params_M``, ``tokens_B``: `unit_alias`) is read multiplied by it. A name no alias
    lists is read by its words (``total_parameter_count``, ``loss_validation``: `scalelab.runs.name_words`), after
    the aliases: beside one of the same column it is an extra column, and a training loss yields to any other.
    ``df.attrs["renamed"]``: {canonical name: the table's column read as it}."""
    notes, rename, clash, scaled = [], {}, {}, {}
    canonical = set(NUMERIC) | set(TEXT)
    # each column's reading: (canonical name, unit factor or None, rank). A plain alias first, then a count named with
    # its unit (tokens_b), then a single letter (n, d, c, l): a weaker name yields to a stronger one for the same
    # column (tokens beside tokens_b, a data mixture's second source)
    reading = {}
    for col in df.columns:
        if col in canonical:
            continue
        plain, unit = alias(col), unit_alias(col)
        if plain is None and unit is None:  # read by its words (`scalelab.runs.name_words`), after the aliases
            by_words = word_alias(col)
            if by_words:
                reading[col] = (by_words[0], None, by_words[1])
            continue
        # a non-embedding count beside the plain count (``params``) yields to it, as a count with its unit does (the
        # total parameter count is the one C = 6ND and Hoffmann's laws read); alone, it is read
        qualified = non_embedding(col)
        rank = 2 if len(str(col).strip()) == 1 else (0 if plain is not None and not qualified else 1)
        reading[col] = (plain, None, rank) if plain is not None else (unit[0], unit[1], rank)
    # dense, no plain N (an alias or a name read by its words; a non-embedding count is none): the total is N
    has_n = "N" in df.columns or any(r[0] == "N" and r[2] < 1 for r in reading.values())
    if not has_n and not {"E", "N_active", "S", "k", "G"} & ({r[0] for r in reading.values()} | set(df.columns)):
        reading = {c: ("N", f, 0) if t == "N_total" else (t, f, r) for c, (t, f, r) in reading.items()}
    rank = lambda c: reading[c][2]  # noqa: E731
    for col in sorted(reading, key=rank):
        target, factor, _ = reading[col]
        if target in NUMERIC and _is_text(df[col], target):  # a text column ('data': 'c4') is no number's alias
            cells = as_text(df[col].dropna())
            if cells.str.contains(r"\d").any():  # numbers written in a way not read ('2 0 0', '1.300B'): say so
                notes.append(f"column {col!r} is not read as {target!r}: its values read as no number (e.g. "
                             f"{cells.iloc[0]!r}); write them as plain numbers")
            continue
        if target in df.columns:  # the table names the column itself: that one is read, the alias is an extra
            same = _same_values(df[col], df[target], target)
            notes.append(f"column {col!r} repeats {target!r} (the same values): left untouched" if same else
                         f"column {col!r} left untouched: the table's own {target!r} column is read (to read "
                         f"{col!r} instead: --map {target}={col}, or read(..., columns={{{target!r}: {col!r}}}))")
            continue
        if target in rename.values():
            other = next(k for k, v in rename.items() if v == target)
            if col not in scaled and other not in scaled and _same_values(df[col], df[other], target):
                notes.append(f"column {col!r} repeats {other!r} (the same values), read as {target!r}: left untouched")
            elif rank(col) > rank(other):
                notes.append(f"column {col!r} left untouched: {other!r} is read as {target!r} (a one-letter name, "
                             f"one with a unit, one read by its words, a non-embedding count or a training loss is "
                             f"read only when no plainer one names the column; to read {col!r}: --map "
                             f"{target}={col})")
            elif _labels(df[col]) != _labels(df[other]) and _agree(df[col], df[other]):  # a size label ('1.4B')
                # beside the exact count, within 2x of it: the count (a count in other units stays a clash)
                label, count = (other, col) if _labels(df[other]) else (col, other)
                if label == other:
                    del rename[other]
                    notes = [n for n in notes if n != f"column {other!r} read as {target!r}"]
                    rename[col] = target
                    notes.append(f"column {col!r} read as {target!r}")
                first = str(df[label].dropna().iloc[0])
                notes.append(f"column {label!r} left untouched: it names the sizes as labels (e.g. {first!r}), and "
                             f"{count!r} holds the counts, read as {target!r}")
            else:  # neither is read: the note that read the first goes
                notes = [n for n in notes if n != f"column {other!r} read as {target!r}"]
                clash[target] = (f"{source}: columns {other!r} and {col!r} both mean {target!r}; drop one, or name "
                                 f"the one to use (--map {target}=COLUMN, or read(..., columns={{{target!r}: ...}}))")
            continue
        rename[col] = target
        if factor is not None:
            scaled[col], said = unit_scale(df[col], target, factor, col)
            notes.append(said)
        else:
            notes.append(f"column {col!r} read as {target!r}")
    notes = _set_losses(df, rename, reading, notes, clash, source)
    if scaled:
        df = df.assign(**{str(c): v for c, v in scaled.items()})
    out = df.rename(columns=rename)
    out.attrs["renamed"] = {t: c for c, t in rename.items()}
    return out, notes, clash


def _set_losses(df, rename: dict, reading: dict, notes: list, clash: dict, source: str) -> list:
    """Where no loss was read, or only a training loss, an evaluation loss on a named set (`named_set_loss`:
    ``eval/paloma/macro_loss``, ``C4 Eval Loss``) is the loss when it is the table's only one: read, with a note (a
    training loss beside it is left untouched). Several make the loss a clash, refused when read and named: which one
    is meant is unknown, and a training loss is not the evaluation's. Updates ``rename`` and ``clash``; the notes."""
    read = next((c for c, t in rename.items() if t == "loss"), None)
    if "loss" in df.columns or "loss" in clash or (read is not None and reading[read][2] < WEAKER):
        return notes
    named = [c for c in df.columns if c not in rename and c not in reading and isinstance(c, str)
             and named_set_loss(c) and not _is_text(df[c], "loss")]
    if not named:
        return notes
    notes = [n for n in notes if n != f"column {read!r} read as 'loss'"]  # the training loss is not read as it
    if len(named) == 1:
        if read is not None:
            del rename[read]
            notes.append(f"column {read!r} left untouched: a training loss; the evaluation loss {named[0]!r} is read")
        rename[named[0]] = "loss"
        return notes + [f"column {named[0]!r} read as 'loss': the table's one evaluation loss"]
    given = ([read] if read is not None else []) + named
    if read is None:
        rename[named[0]] = "loss"  # read, and refused when used, naming them all
    others = [c for c in df.columns if isinstance(c, str) and loss_name(c) and c not in given]
    also = (f"; other columns name a loss too: {others[:8]}{f' and {len(others) - 8} more' if len(others) > 8 else ''}"
            if others else "")
    clash["loss"] = (f"{source}: columns {given} may each be the loss ({'a training loss and ' if read else ''}"
                     f"evaluation losses on several sets){also}; name the one to fit or forecast (--map loss=COLUMN, "
                     f"or read(..., columns={{'loss': ...}}))")
    return notes


def _labels(col) -> bool:
    """Whether a column writes counts as labels only ('50M', '1.4B', '~7B'): text, none of it a plain number."""
    if isinstance(col, pd.DataFrame):
        return False
    vals = col.dropna()
    return (len(vals) > 0 and not pd.api.types.is_numeric_dtype(vals) and bool(pd.to_numeric(vals, errors="coerce")
                                                                               .isna().all())
            and bool(numbers(vals, "N").notna().all()))


def _agree(a, b, factor: float = 2.0) -> bool:
    """Whether two columns of counts (labels or numbers) agree within ``factor`` in their median ratio."""
    x, y = numbers(a, "N").to_numpy(), numbers(b, "N").to_numpy()
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    return bool(ok.any() and abs(np.log(np.median(x[ok] / y[ok]))) <= np.log(factor))


def _is_text(col, name: str | None = None) -> bool:
    """Whether a column holds text only: values, none of which reads as a number (a dataset's name, not a count;
    '125m' is a count when the column would be read as ``name`` = N, see `numbers`)."""
    if isinstance(col, pd.DataFrame):  # a name given twice: the duplicate-column check reports it
        return False
    vals = col.dropna()
    return len(vals) > 0 and bool(numbers(vals, name).isna().all())


def _same_values(a, b, name: str | None = None) -> bool:
    """Whether two columns hold the same values, one quantity written twice: the same numbers (to 1e-9, empty
    where the other is empty), and the same text in every cell either of them writes as words (run ids)."""
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame) or len(a) != len(b):
        return False
    x, y = (numbers(c, name).to_numpy() for c in (a, b))
    words = (np.isnan(x) & a.notna().to_numpy()) | (np.isnan(y) & b.notna().to_numpy())
    if not np.array_equal(as_text(a).to_numpy()[words], as_text(b).to_numpy()[words]):
        return False
    x, y = x[~words], y[~words]
    return bool(np.array_equal(np.isnan(x), np.isnan(y)) and np.allclose(x[~np.isnan(x)], y[~np.isnan(y)],
                                                                        rtol=1e-9, atol=0.0))
