"""Training: schedules, determinism, dtypes under x64, and that a trained tiny model learns
(held-out loss below the unigram entropy, the best context-free loss, and above the floor)."""

import dataclasses

import jax
import numpy as np
import pytest

from scalelab.proxy import tokens
from scalelab.proxy.config import DataConfig, ModelConfig, RunSpec, TrainConfig
from scalelab.proxy.train import lr_schedule, train_run


@pytest.fixture(autouse=True)
def _x64():
    """JAX's 64-bit mode on around each test, as a caller may have it: the proxy is explicit about dtypes."""
    with jax.enable_x64(True):
        yield


DATA = DataConfig(vocab_size=16, order=2, mix=0.5, concentration=0.1)
MODEL = ModelConfig(vocab_size=16, seq_len=32, d_model=32, n_layers=1, n_heads=2)
TRAIN = TrainConfig(tokens=150 * 16 * 32, batch_size=16, lr=1e-2, eval_tokens=32 * 128, seed=0)


def test_cosine_schedule_shape():
    cfg = TrainConfig(lr=1e-2, warmup_frac=0.1, final_lr_frac=0.1, schedule="cosine")
    lrs = lr_schedule(cfg, 100)
    assert lrs.dtype == np.float32 and lrs.shape == (100,)
    assert np.all(np.diff(lrs[:10]) > 0) and 0 < lrs[0] <= 1e-3 + 1e-9
    assert lrs.max() == pytest.approx(1e-2, rel=1e-6)
    assert np.all(np.diff(lrs[10:]) <= 1e-9)
    assert lrs[-1] == pytest.approx(1e-3, rel=0.02)


def test_wsd_schedule_has_plateau_then_decay():
    cfg = TrainConfig(lr=1e-2, warmup_frac=0.1, decay_frac=0.2, final_lr_frac=0.0, schedule="wsd")
    lrs = lr_schedule(cfg, 100)
    np.testing.assert_allclose(lrs[10:80], 1e-2, rtol=1e-6)
    assert np.all(np.diff(lrs[80:]) < 0) and lrs[-1] < 1e-3


def test_trained_model_learns_and_is_deterministic():
    spec = RunSpec(MODEL, TRAIN, DATA)
    row = train_run(spec)
    held = tokens.eval_set(DATA, MODEL.seq_len, TRAIN.eval_tokens)
    unigram = tokens.unigram_entropy(held[:, 1:], DATA.vocab_size)
    # learned more than unigram statistics, and cannot beat the true distribution
    # (0.02: the floor is an expectation; 4096 held-out tokens estimate it to about +-0.02)
    assert row["entropy_floor"] - 0.02 < row["loss"] < unigram - 0.1
    assert row["D"] == 150 * 16 * 32 and row["step"] == 150
    assert row["N"] == row["N_total"] == row["N_active"] and row["family"] == "dense" and row["S"] == 0
    again = train_run(spec)
    assert again["loss"] == row["loss"] and again["run_id"] == row["run_id"]
    other = train_run(dataclasses.replace(spec, train=dataclasses.replace(TRAIN, seed=1)))
    assert other["loss"] != row["loss"] and other["run_id"] != row["run_id"]


def test_moe_run_row_and_float32_params():
    m = dataclasses.replace(MODEL, n_experts=4, top_k=2, granularity=2)
    t = dataclasses.replace(TRAIN, tokens=20 * 16 * 32)
    row = train_run(RunSpec(m, t, DATA))
    assert row["family"] == "moe" and row["E"] == 4 and row["k"] == 2 and row["G"] == 2
    assert row["N_active"] < row["N_total"] == row["N"]
    assert row["S"] == pytest.approx(1 - row["N_active"] / row["N_total"])
    assert np.isfinite(row["loss"])
    # parameters stay float32 through AdamW even with jax_enable_x64 on
    from flax import nnx
    from scalelab.proxy.train import _compiled, _opt_key, init_model

    _, tx, step, _, _ = _compiled(m, _opt_key(t))
    _, params = nnx.split(init_model(m, 0))
    opt_state = tx.init(params)
    batch = tokens.eval_set(DATA, m.seq_len, 16 * 32)[:16]
    params, opt_state, ce = step(params, opt_state, batch, np.float32(1e-3))
    assert {str(p.dtype) for p in jax.tree.leaves(params)} == {"float32"} and ce.dtype == np.float32


def test_vocab_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="vocab_size"):
        train_run(RunSpec(dataclasses.replace(MODEL, vocab_size=256), TRAIN, DATA))
