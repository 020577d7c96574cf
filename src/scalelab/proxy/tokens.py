"""Token sources for proxy runs: synthetic Markov languages and local text as bytes.

Every source gives a *training pool* of sequences (``[n, seq_len + 1]`` int32: inputs are
``[:, :-1]``, targets ``[:, 1:]``, so a sequence carries ``seq_len`` training tokens) and a
*held-out evaluation set* that never overlaps the pool's source material.

Synthetic languages (``source="synthetic"``): an order-n Markov chain over V tokens whose
next-token distribution given the last n tokens is ``(1 - mix) * B[last] + mix * R[context]``,
rows of B and R drawn from a symmetric Dirichlet(``concentration``). A small model learns the
bigram part B; the context part R needs capacity and data, so loss falls with N and D. The
entropy floor (the loss of the true distribution) is known exactly: ``entropy_rate`` is
``sum_c pi(c) H(P[c])`` over the stationary distribution pi of contexts, and ``floor(seq_len)``
averages the Bayes loss over a window's positions (the first n - 1 predictions see a shorter
context). All entropies are in nats.

Text (``source="text"``): bytes (vocabulary 256) of local files. The default corpus is the
``.py`` files of the running Python's standard library (``sysconfig.get_paths()["stdlib"]``,
``site-packages`` excluded), which every machine with Python has; it differs slightly between
Python versions. Files are read in sorted order up to ``max_bytes``; a file is held out for
evaluation when the first byte of the SHA-1 of its relative path is ``< 26`` (about 10 %).

Data budget and redundancy: ``unique_tokens`` (U_D) caps the training pool; training for D > U_D
tokens repeats the pool (``D / U_D`` epochs, reshuffled each epoch). ``duplication`` replaces
that fraction of the pool's sequences by copies of ``n_prototypes`` prototypes (high-density,
redundant data). ``ngram_repeat`` measures redundancy the same way for every source: the fraction
of 16-token windows that repeat an earlier window, ``1 - distinct / total``, counted in a
fixed-size random sample of the pool's sequences (``NGRAM_SAMPLE``, all of them if fewer) so that
the number does not grow with pool size merely because a bigger pool has more chances to repeat.
It lies in [0, 1).

Column convention: a run table's ``density`` column is Chen et al.'s (2025) data density, the
input of the density laws (``chen2025_suboptimal_density``; measured by `scalelab.runs.density`).
The repeat share is a different quantity and is written as ``ngram_repeat``, never ``density``, so
that a sweep table fed to a density law fails with a clear error instead of being misread. To use
it as a stand-in for the density deliberately, map it: ``read(path, columns={"density":
"ngram_repeat"})``. Sweep files written before the rename carry it as ``density``; both readers
(`scalelab.proxy.sweep.read_runs` and `scalelab.runs.read`) rename it back at read.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import hashlib
import os
import sysconfig

import numpy as np

from .config import DataConfig

__all__ = [
    "SyntheticLanguage",
    "language",
    "train_pool",
    "eval_set",
    "batches",
    "batch_indices",
    "ngram_repeat",
    "unigram_entropy",
    "entropy_floor",
    "default_corpus_files",
]

NGRAM_WINDOW = 16
NGRAM_SAMPLE = 4096  # sequences


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticLanguage:
    """An order-n Markov language over ``vocab`` tokens. ``probs[c]`` is the next-token
    distribution of context id ``c = sum_i x_i * V**(n-1-i)`` (oldest token most significant);
    ``pi`` the stationary distribution over contexts."""

    vocab: int
    order: int
    probs: np.ndarray  # [V**n, V], float64
    pi: np.ndarray  # [V**n], float64
    cdf: np.ndarray  # [V**n, V], row-wise cumulative probs

    @property
    def entropy_rate(self) -> float:
        """Entropy in nats per token of the next token given the full order-n context."""
        return float(np.sum(self.pi * _row_entropy(self.probs)))

    def prefix_entropy(self, j: int) -> float:
        """Joint entropy (nats) of the first j <= n tokens of a stationary sequence."""
        if j == 0:
            return 0.0
        marg = self.pi.reshape((self.vocab,) * self.order).sum(axis=tuple(range(j, self.order)))
        p = marg.reshape(-1)
        p = p[p > 0]
        return float(-np.sum(p * np.log(p)))

    def floor(self, seq_len: int) -> float:
        """Expected loss (nats/token) of the true distribution over the ``seq_len`` predictions
        of a window whose first tokens are stationary: position t predicts x[t+1] from x[0..t]."""
        n = self.order
        short = [self.prefix_entropy(t + 2) - self.prefix_entropy(t + 1) for t in range(min(n - 1, seq_len))]
        return (sum(short) + max(0, seq_len - (n - 1)) * self.entropy_rate) / seq_len

    def sample(self, n_seq: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """``n_seq`` stationary sequences of ``length`` tokens (int32 ``[n_seq, length]``)."""
        v, n = self.vocab, self.order
        ctx = rng.choice(self.pi.size, size=n_seq, p=self.pi)
        out = np.empty((n_seq, max(length, n)), np.int32)
        for i in range(n):
            out[:, i] = (ctx // v ** (n - 1 - i)) % v
        cdf = self.cdf
        for i in range(n, length):
            u = rng.random(n_seq)
            nxt = np.minimum((cdf[ctx] < u[:, None]).sum(axis=1), v - 1)
            out[:, i] = nxt
            ctx = (ctx * v + nxt) % (v**n)
        return out[:, :length]


def _row_entropy(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(p > 0, p * np.log(p), 0.0), axis=-1)


@functools.lru_cache(maxsize=8)
def _language(vocab: int, order: int, mix: float, concentration: float, seed: int) -> SyntheticLanguage:
    rng = np.random.default_rng(seed)
    n_ctx = vocab**order
    bigram = rng.dirichlet(np.full(vocab, concentration), size=vocab)  # [V, V]
    ctx_part = rng.dirichlet(np.full(vocab, concentration), size=n_ctx)  # [V**n, V]
    probs = (1 - mix) * bigram[np.arange(n_ctx) % vocab] + mix * ctx_part
    probs /= probs.sum(axis=1, keepdims=True)
    # stationary distribution of the context chain: pi'[x2..xn, c] = sum_x1 pi[x1..xn] P[x1..xn, c]
    pi = np.full(n_ctx, 1.0 / n_ctx)
    for _ in range(10_000):
        new = (pi[:, None] * probs).reshape(vocab, n_ctx // vocab, vocab).sum(axis=0).reshape(-1)
        if np.abs(new - pi).sum() < 1e-13:
            pi = new
            break
        pi = new
    return SyntheticLanguage(vocab, order, probs, pi / pi.sum(), np.cumsum(probs, axis=1))


def language(cfg: DataConfig) -> SyntheticLanguage:
    """The synthetic language a ``DataConfig`` names (cached; deterministic in its fields)."""
    return _language(cfg.vocab_size, cfg.order, cfg.mix, cfg.concentration, cfg.language_seed)


def entropy_floor(cfg: DataConfig, seq_len: int) -> float:
    """Eval-loss floor in nats/token for a window of ``seq_len`` predictions; NaN for text
    (unknown)."""
    if cfg.source != "synthetic":
        return float("nan")
    return language(cfg).floor(seq_len)


def default_corpus_files() -> list[str]:
    """The default text corpus: the standard library's ``.py`` files, sorted."""
    root = sysconfig.get_paths()["stdlib"]
    files = glob.glob(os.path.join(root, "**", "*.py"), recursive=True)
    return sorted(f for f in files if "site-packages" not in f and "dist-packages" not in f)


def _text_files(cfg: DataConfig) -> tuple[list[str], str]:
    if not cfg.paths:
        return default_corpus_files(), sysconfig.get_paths()["stdlib"]
    files: list[str] = []
    for p in cfg.paths:
        files.extend(sorted(glob.glob(p, recursive=True)) if any(c in p for c in "*?[") else [p])
    if not files:
        raise FileNotFoundError(f"no files match {cfg.paths}; give existing paths or globs")
    return files, os.path.commonpath([os.path.abspath(f) for f in files])


@functools.lru_cache(maxsize=4)
def _text_streams(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train bytes, held-out bytes) as uint8 arrays; documents separated by a 0 byte."""
    files, root = _text_files(cfg)
    train, held, size = [], [], 0
    for f in files:
        if size >= cfg.max_bytes:
            break
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        rel = os.path.relpath(os.path.abspath(f), root) if len(files) > 1 else os.path.basename(f)
        is_eval = hashlib.sha1(rel.encode()).digest()[0] < 26 if len(files) > 1 else False
        (held if is_eval else train).append(data + b"\x00")
        size += len(data) + 1
    if len(files) == 1 or not held:  # one file: hold out its last 10 %
        blob = b"".join(train + held)
        cut = int(len(blob) * 0.9)
        return np.frombuffer(blob[:cut], np.uint8), np.frombuffer(blob[cut:], np.uint8)
    return np.frombuffer(b"".join(train), np.uint8), np.frombuffer(b"".join(held), np.uint8)


def _windows(stream: np.ndarray, seq_len: int) -> np.ndarray:
    n = (len(stream) - 1) // seq_len
    idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    return stream[idx].astype(np.int32)


def _data_seed(cfg: DataConfig, *salt) -> np.random.Generator:
    return np.random.default_rng([cfg.language_seed, *salt])


def train_pool(cfg: DataConfig, seq_len: int, tokens: int, seed: int) -> tuple[np.ndarray, dict]:
    """Training pool for a run of ``tokens`` training tokens (D).

    Returns ``(pool, info)``: pool int32 ``[n, seq_len + 1]``; info has ``U_D`` (distinct
    training tokens in the pool: distinct sequences x ``seq_len``), ``pool_tokens``,
    ``ngram_repeat`` (`ngram_repeat` of the pool; not Chen et al.'s density, see the module doc)
    and ``epochs`` (D / pool_tokens).
    """
    need = -(-tokens // seq_len)  # sequences for one pass over D tokens
    n = need if cfg.unique_tokens is None else max(1, -(-cfg.unique_tokens // seq_len))
    rng = _data_seed(cfg, 1, seed)
    if cfg.source == "synthetic":
        pool = language(cfg).sample(n, seq_len + 1, rng)
    elif cfg.source == "text":
        all_train = _windows(_text_streams(cfg)[0], seq_len)
        if n > len(all_train):
            n = len(all_train)
        pool = all_train[np.sort(rng.choice(len(all_train), size=n, replace=False))] if n < len(all_train) else all_train
    else:
        raise ValueError(f"unknown source {cfg.source!r}; use 'synthetic' or 'text'")
    distinct = len(pool)
    if cfg.duplication > 0:
        n_dup = int(round(cfg.duplication * len(pool)))
        n_proto = min(cfg.n_prototypes, len(pool))
        protos = pool[rng.choice(len(pool), size=n_proto, replace=False)]
        where = rng.choice(len(pool), size=n_dup, replace=False)
        pool = pool.copy()
        pool[where] = protos[rng.integers(0, n_proto, size=n_dup)]
        distinct = len(np.unique(pool, axis=0))
    info = {
        "U_D": int(distinct * seq_len),
        "pool_tokens": int(len(pool) * seq_len),
        "ngram_repeat": ngram_repeat(pool),
        "epochs": tokens / (len(pool) * seq_len),
    }
    return pool, info


def eval_set(cfg: DataConfig, seq_len: int, tokens: int) -> np.ndarray:
    """Held-out sequences (int32 ``[n, seq_len + 1]``, ``n = ceil(tokens / seq_len)``), the same
    for every run of a given source and ``seq_len``: fresh samples of the synthetic language
    (an independent random stream), or windows of the held-out text files."""
    n = max(1, -(-tokens // seq_len))
    if cfg.source == "synthetic":
        return language(cfg).sample(n, seq_len + 1, _data_seed(cfg, 2))
    windows = _windows(_text_streams(cfg)[1], seq_len)
    if len(windows) == 0:
        raise ValueError("held-out text is shorter than one sequence; give more files or raise max_bytes")
    return windows[np.linspace(0, len(windows) - 1, min(n, len(windows))).astype(int)]


def batch_indices(n_pool: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """Pool row of every sequence of every step (int32 ``[steps, batch_size]``), epoch by epoch:
    a fresh permutation of the pool each epoch, deterministic in ``seed``."""
    rng = np.random.default_rng([seed, 3])
    need = steps * batch_size
    order = np.concatenate([rng.permutation(n_pool) for _ in range(-(-need // n_pool))])
    return order[:need].reshape(steps, batch_size).astype(np.int32)


def batches(pool: np.ndarray, batch_size: int, steps: int, seed: int):
    """Yield ``steps`` int32 batches ``[batch_size, seq_len + 1]`` of ``pool`` in the order of
    ``batch_indices``."""
    for idx in batch_indices(len(pool), batch_size, steps, seed):
        yield pool[idx]


def ngram_repeat(pool: np.ndarray, window: int = NGRAM_WINDOW, sample: int | None = NGRAM_SAMPLE) -> float:
    """Redundancy of a pool: ``1 - distinct / total`` over the ``window``-token windows inside its
    sequences (windows do not cross sequence boundaries), counted in ``sample`` sequences drawn
    without replacement with a fixed seed (None or a larger number: all sequences). In [0, 1);
    the ``ngram_repeat`` column of a sweep table (not the ``density`` of the density laws)."""
    pool = np.asarray(pool)
    if sample is not None and len(pool) > sample:
        pool = pool[np.sort(np.random.default_rng(0).choice(len(pool), size=sample, replace=False))]
    pool = pool.astype(np.uint64)
    n, length = pool.shape
    w = min(window, length)
    h = np.zeros((n, length - w + 1), np.uint64)
    mult = np.uint64(1_000_003)
    with np.errstate(over="ignore"):
        for i in range(w):
            h = h * mult + pool[:, i : i + length - w + 1] + np.uint64(1)
    h = h.reshape(-1)
    return float(1.0 - len(np.unique(h)) / h.size)


def unigram_entropy(tokens: np.ndarray, vocab: int) -> float:
    """Entropy (nats) of the empirical unigram distribution of ``tokens``: the loss of the best
    context-free predictor, a baseline a trained model must beat."""
    p = np.bincount(np.asarray(tokens).reshape(-1), minlength=vocab) / np.size(tokens)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))
