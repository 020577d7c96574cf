"""A column name read by its words, for names no alias lists.

Exports name one quantity many ways (``total_parameter_count``, ``numTrainingTokens``, ``loss_validation``,
``Final Val Loss``); `scalelab.runs.columns.ALIASES` lists the common spellings, and this module reads the rest by
their words. A name is split into lower-case words (at underscores, spaces, hyphens, dots, slashes and camelCase
boundaries). It names a quantity when it holds exactly one of that quantity's head words (``params``, ``tokens``,
``loss`` or ``xent``, ``flops``, ``experts``) and every other word is a filler (``num``, ``count``, ``train``, ...)
or one of the quantity's qualifiers, which choose the column (``total`` -> ``N_total``, ``active`` -> ``N_active``,
``unique`` -> ``U_D``). Any other word leaves the name unread: ``embedding_params``, ``flops_per_step``,
``tokens_per_batch`` and ``loss_c4`` (one loss of several held-out sets) are no run's N, C, D or loss. A perplexity
(``val_ppl``) is the loss's exponential (`perplexity_name`): read as its log. An evaluation loss on a named set
(``eval/paloma/macro_loss``, `named_set_loss`) is the loss only where it is the table's one such column.

A name read this way is weaker than an alias (`WEAK`): beside an alias of the same column it is an extra column. A
training loss (``train_loss``) is weaker still: beside a validation loss it is left untouched.
"""

from __future__ import annotations

import re

# Head words: (the canonical column, the words that name it)
_HEADS = (
    ("N", {"param", "params", "parameter", "parameters", "nparams", "nparam", "size"}),  # size: a model's
    ("D", {"token", "tokens", "toks", "datasize"}),
    ("loss", {"loss", "xent", "nll", "crossentropy"}),
    ("C", {"flop", "flops", "flos", "compute"}),  # flos: Hugging Face's Trainer logs 'total_flos'
    ("E", {"expert", "experts"}),
)
# Words that say nothing of which column is meant (a count of, in training, at the end)
_FILLER = {"num", "n", "no", "nb", "number", "of", "count", "the", "model", "final", "last", "end", "at", "in",
           "trained", "seen", "processed", "used"}
# Per column, words that name it further: the column they choose (None: the head's own column), or ("weak", column)
# for a reading that yields to any other (a training loss beside a validation loss)
_QUALIFIERS = {
    "N": {"total": "N_total", "all": "N_total", "active": "N_active", "activated": "N_active", "dense": "N_active",
          "trainable": None, "nonembedding": "N", "non": "N", "embedding": "N"},
    "D": {"train": None, "training": None, "total": None, "dataset": None, "data": None, "budget": None,
          "throughput": None, "pretraining": None, "unique": "U_D"},  # throughput: OLMo logs 'throughput/total_tokens'
    "loss": {"val": None, "valid": None, "validation": None, "eval": None, "evaluation": None, "test": None,
             "dev": None, "lm": None, "heldout": None, "held": None, "out": None, "avg": None, "mean": None,
             "smoothed": None, "smooth": None, "nats": None, "best": None, "min": None, "lowest": None,
             "ce": None, "train": ("weak", "loss"), "training": ("weak", "loss")},
    "C": {"train": None, "training": None, "total": None, "budget": None},
    "E": {"total": None},
}
# A reading by words ranks after a plain alias (0) and a non-embedding count or one named with its unit (1 in
# `scalelab.runs.columns.canonical_names`): WEAK; a training loss after those: WEAKER
WEAK, WEAKER = 0.5, 1.5


def words(name) -> list[str]:
    """The lower-case words of a column name: split at non-alphanumeric characters and camelCase boundaries
    (``numTrainingTokens`` -> num, training, tokens; ``NParams`` -> n, params; ``TotalFLOPs`` -> total, flops);
    ``cross entropy`` is one word, ``crossentropy``, and ``data size`` one, ``datasize``."""
    parts = [p.lower() for p in re.findall(r"[A-Z]{2,}s(?![a-z])|[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", str(name))]
    # 'cross entropy' and 'cross entropy loss' (OLMo's 'train/CrossEntropyLoss') are one word, as a loss's name
    # and a data set's size is one word, D's ('Pretraining Data Size'), not a model's size
    joined = re.sub(r"\bcross entropy(?: loss)?\b", "crossentropy", " ".join(parts))
    return re.sub(r"\bdata(?:set)? size\b", "datasize", joined).split()


def perplexity_name(name) -> bool:
    """Whether a column name names a perplexity, ``exp`` of the loss (``ppl``, ``val_perplexity``, ``Eval PPL``): one
    of those words and otherwise only filler and a loss's qualifiers."""
    ws = words(name)
    found = [w for w in ws if w in ("ppl", "perplexity")]
    return len(found) == 1 and all(w in _FILLER or w in _QUALIFIERS["loss"] for w in ws if w not in found)


# Words that say a column is an evaluation's, and words that say it holds something else than a loss (a statistic of
# one, a loss's part, a rate)
_EVAL = {"eval", "evaluation", "val", "valid", "validation", "test", "heldout", "dev"}
_NOT_A_LOSS = {"std", "stderr", "sem", "var", "variance", "max", "delta", "diff", "ratio", "grad", "norm", "aux",
               "router", "balance", "z", "weight", "per", "rate", "count", "step", "steps", "time", "train",
               "training", "upper", "lower", "bound", "ci", "min", "conf", "confidence"}


def named_set_loss(name) -> bool:
    """Whether a column name names an evaluation loss on a named set (``eval/paloma/macro_loss``, ``C4 Eval Loss``,
    ``val/.dclm_loss``): a loss head word, an evaluation word, and no word that makes it a statistic of a loss or a
    training loss. The other words (the set's name) are unknown, so `word_alias` leaves the name unread; a table whose
    only evaluation loss it is reads it (`scalelab.runs.columns.canonical_names`)."""
    return loss_name(name) and bool(_EVAL & set(words(name)))


def loss_name(name) -> bool:
    """Whether a column name names a loss of some kind (``loss_openlm``, ``loss_paloma_c4_en``): one loss head word and
    no word that makes it a statistic of a loss (`named_set_loss` without the evaluation word). Used to list the
    columns a refusal over several evaluation losses leaves unnamed."""
    ws = words(name)
    return sum(w in dict(_HEADS)["loss"] for w in ws) == 1 and not ((_NOT_A_LOSS | _AUXILIARY) & set(ws))


# Words of a loss that is no language-modelling loss (a mixed-precision loss scale, a router's balancing loss, a
# multi-token-prediction head's, a KL term)
_AUXILIARY = {"scale", "scaler", "load", "balancing", "moe", "mtp", "kl", "spike", "spikes"}


def non_embedding(name) -> bool:
    """Whether a column name counts non-embedding parameters (``non_embedding_params``, ``NonEmbeddingParams``,
    ``params (non-embedding)``): a count of another kind than the total, which yields to a plain one as N."""
    ws = set(words(name))
    return {"non", "embedding"} <= ws or "nonembedding" in ws


def word_alias(name) -> tuple[str, float] | None:
    """``(canonical column, rank)`` that a column name names by its words, or None (see the module's docstring).

    A non-embedding count reads as ``N`` with rank 1 (it yields to a plain parameter count, as the alias
    ``non_embedding_params`` does); ``non`` and ``embedding`` name it only together."""
    ws = words(name)
    if not ws:
        return None
    for column, heads in _HEADS:
        found = [w for w in ws if w in heads]
        if len(found) != 1:
            continue
        rest = [w for w in ws if w not in heads and w not in _FILLER]
        quals = _QUALIFIERS[column]
        if any(w not in quals for w in rest):
            return None
        if column == "N" and ({"non", "embedding", "nonembedding"} & set(rest)):
            if "nonembedding" not in rest and not {"non", "embedding"} <= set(rest):
                return None  # 'embedding_params' alone: the embedding's own count
            return ("N", 1.0) if set(rest) <= {"non", "embedding", "nonembedding"} else None
        chosen = {quals[w] for w in rest if quals[w] is not None}
        if len(chosen) > 1:  # 'total active params': which is meant is unknown
            return None
        if not chosen:
            return column, WEAK
        pick = chosen.pop()
        return (pick[1], WEAKER) if isinstance(pick, tuple) else (pick, WEAK)
    return None
