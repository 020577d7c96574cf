"""Token sources: the synthetic language's entropy floor against independent references, data
budget / ngram_repeat bookkeeping, held-out data disjoint from training data, determinism."""

import dataclasses

import numpy as np
import pytest

from scalelab.proxy import tokens
from scalelab.proxy.config import DataConfig


def _pair_chain_reference(lang):
    """Entropy rate from the full pair-state transition matrix and its stationary vector found
    by numpy's eigen-solver (independent of the power iteration in tokens.py)."""
    v = lang.vocab
    n = v * v
    m = np.zeros((n, n))
    for a in range(v):
        for b in range(v):
            m[a * v + b, b * v + np.arange(v)] = lang.probs[a * v + b]
    w, vecs = np.linalg.eig(m.T)
    pi = np.real(vecs[:, np.argmin(np.abs(w - 1))])
    pi = pi / pi.sum()
    h = -np.sum(lang.probs * np.log(lang.probs), axis=1)
    return float(pi @ h), pi


def test_entropy_rate_matches_eigenvector_reference():
    cfg = DataConfig(vocab_size=6, order=2, mix=0.6, concentration=0.3, language_seed=7)
    lang = tokens.language(cfg)
    ref, pi = _pair_chain_reference(lang)
    # both are exact up to float64 eigen-solver round-off
    assert abs(lang.entropy_rate - ref) < 1e-9
    np.testing.assert_allclose(lang.pi, pi, atol=1e-9)
    # entropy rate <= H(x2 | x1) <= H(x1) <= log V: conditioning reduces entropy
    h1, h2 = lang.prefix_entropy(1), lang.prefix_entropy(2)
    assert lang.entropy_rate <= h2 - h1 + 1e-12 <= h1 + 1e-12 <= np.log(cfg.vocab_size) + 1e-12


def test_floor_matches_monte_carlo_loss_of_true_distribution():
    """The mean -log p(x[t+1] | x[..t]) of the true model over sampled windows is an unbiased
    estimate of floor(seq_len); tolerance: 4 standard errors of that mean."""
    cfg = DataConfig(vocab_size=8, order=2, mix=0.5, concentration=0.2, language_seed=3)
    lang = tokens.language(cfg)
    seq_len = 12
    x = lang.sample(20000, seq_len + 1, np.random.default_rng(0))
    v = cfg.vocab_size
    # position 0 predicts x1 from x0 alone: p(x1 | x0) from the stationary pair distribution
    pair = lang.pi.reshape(v, v)
    first = np.log(pair[x[:, 0], x[:, 1]] / pair.sum(axis=1)[x[:, 0]])
    rest = np.log(lang.probs[x[:, :-2] * v + x[:, 1:-1], x[:, 2:]])
    nll = -np.concatenate([first[:, None], rest], axis=1).mean(axis=1)
    se = nll.std() / np.sqrt(len(nll))
    assert abs(nll.mean() - lang.floor(seq_len)) < 4 * se


def test_pool_budget_duplication_and_ngram_repeat():
    cfg = DataConfig(vocab_size=16, order=2, concentration=0.3)
    fresh, info = tokens.train_pool(cfg, seq_len=32, tokens=32 * 500, seed=0)
    assert fresh.shape == (500, 33) and fresh.dtype == np.int32
    assert info["U_D"] == info["pool_tokens"] == 32 * 500 and info["epochs"] == 1.0
    assert info["ngram_repeat"] < 0.01  # 16-token windows of a 2.2-nat/token language do not repeat by chance
    dup = DataConfig(vocab_size=16, order=2, concentration=0.3, unique_tokens=32 * 400, duplication=0.5, n_prototypes=4)
    pool, info = tokens.train_pool(dup, seq_len=32, tokens=32 * 1600, seed=0)
    assert len(pool) == 400 and info["epochs"] == 4.0
    distinct = len(np.unique(pool, axis=0))
    assert info["U_D"] == 32 * distinct and 200 <= distinct <= 204
    assert 0.45 <= info["ngram_repeat"] <= 0.52  # half the sequences are copies of 4 prototypes
    assert tokens.ngram_repeat(np.repeat(fresh[:10], 10, axis=0)) == pytest.approx(0.9, abs=1e-9)


def test_ngram_repeat_does_not_grow_with_pool_size():
    """Same duplication rate, pools of 2,000 and 16,000 sequences: equal ngram_repeat within 0.03
    (the sampling error of a 4,096-sequence sample of a 50/50 mixture is about 0.01)."""
    cfg = DataConfig(vocab_size=16, order=2, concentration=0.3, duplication=0.5, n_prototypes=4)
    small = tokens.train_pool(dataclasses.replace(cfg, unique_tokens=16 * 2000), 16, 16 * 2000, seed=0)[1]["ngram_repeat"]
    large = tokens.train_pool(dataclasses.replace(cfg, unique_tokens=16 * 16000), 16, 16 * 16000, seed=0)[1]["ngram_repeat"]
    assert abs(small - large) < 0.03 and 0.45 < large < 0.52


def test_pool_and_batches_are_deterministic():
    cfg = DataConfig(vocab_size=16)
    a, _ = tokens.train_pool(cfg, 16, 16 * 64, seed=5)
    b, _ = tokens.train_pool(cfg, 16, 16 * 64, seed=5)
    c, _ = tokens.train_pool(cfg, 16, 16 * 64, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    ba = list(tokens.batches(a, 8, 20, seed=1))
    bb = list(tokens.batches(a, 8, 20, seed=1))
    assert all(np.array_equal(x, y) for x, y in zip(ba, bb))
    # 20 steps x 8 = 160 sequences = 2.5 epochs of 64: every sequence seen 2 or 3 times
    seen = np.unique(np.concatenate(ba), axis=0, return_counts=True)[1]
    assert set(seen) <= {2, 3} and len(seen) == 64


def test_synthetic_eval_is_held_out():
    cfg = DataConfig(vocab_size=16)
    pool, _ = tokens.train_pool(cfg, 32, 32 * 300, seed=0)
    held = tokens.eval_set(cfg, 32, 32 * 100)
    assert not set(map(bytes, pool.astype(np.uint8))) & set(map(bytes, held.astype(np.uint8)))
    assert np.array_equal(held, tokens.eval_set(cfg, 32, 32 * 100))  # same for every run


def test_text_source_holds_out_files(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(40):
        (tmp_path / f"f{i:02d}.txt").write_bytes(bytes(rng.integers(97, 123, size=300).tolist()))
    cfg = DataConfig(source="text", paths=(str(tmp_path / "*.txt"),))
    train_bytes, held_bytes = tokens._text_streams(cfg)
    assert 0 < len(held_bytes) < len(train_bytes)
    pool, info = tokens.train_pool(cfg, 16, 16 * 100, seed=0)
    held = tokens.eval_set(cfg, 16, 16 * 20)
    assert pool.max() < 256 and held.shape[1] == 17
    assert not set(map(bytes, pool.astype(np.uint8))) & set(map(bytes, held.astype(np.uint8)))


def test_default_corpus_exists_without_downloads():
    files = tokens.default_corpus_files()
    assert any(f.endswith("/os.py") for f in files)
    assert not any("site-packages" in f for f in files)
