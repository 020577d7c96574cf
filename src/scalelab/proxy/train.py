"""Train one proxy run and return its RunTable row.

AdamW (optax) with linear warmup then cosine decay, or warmup-stable-decay (WSD); global-norm
clipping; the learning rate of each step is computed on the host from the optax schedule and
fed to a compiled step through ``optax.inject_hyperparams``, so runs that differ only in
learning rate, length or schedule share one compiled program. Everything random derives from
``TrainConfig.seed`` (parameter init, data pool sample, batch order): the same spec gives the
same row. Loss is mean cross-entropy in nats per target token on held-out data.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from . import accounting, tokens
from .config import ModelConfig, RunSpec, TrainConfig
from .model import Transformer

__all__ = ["lr_schedule", "read_schedule", "schedule_points", "train_run", "init_model", "default_compute_dtype", "EVAL_BATCH"]

EVAL_BATCH = 64  # sequences per compiled evaluation call
CHUNK = 32  # optimiser steps per compiled call (lax.scan); the remainder runs step by step


def default_compute_dtype() -> str:
    """bfloat16 on GPU/TPU, float32 on CPU."""
    return "float32" if jax.default_backend() == "cpu" else "bfloat16"


def lr_schedule(cfg: TrainConfig, steps: int) -> np.ndarray:
    """Learning rate of every step (float32 ``[steps]``), from optax schedules.

    ``cosine``: linear warmup from 0 over ``warmup_frac * steps``, cosine decay to
    ``final_lr_frac * lr`` at the last step. ``wsd``: the same warmup, constant ``lr``, then
    linear decay to ``final_lr_frac * lr`` over the last ``decay_frac * steps``. ``constant``:
    the same warmup, then ``lr`` to the end.
    """
    warm = max(1, int(round(cfg.warmup_frac * steps))) if cfg.warmup_frac > 0 else 0
    end = cfg.final_lr_frac * cfg.lr
    if cfg.schedule == "cosine":
        sched = optax.warmup_cosine_decay_schedule(0.0, cfg.lr, warm, max(steps, warm + 1), end)
    elif cfg.schedule == "constant":
        sched = optax.join_schedules([optax.linear_schedule(0.0, cfg.lr, max(warm, 1)),
                                      optax.constant_schedule(cfg.lr)], [warm])
    elif cfg.schedule == "wsd":
        decay = max(1, int(round(cfg.decay_frac * steps)))
        stable = max(0, steps - warm - decay)
        sched = optax.join_schedules(
            [
                optax.linear_schedule(0.0, cfg.lr, max(warm, 1)),
                optax.constant_schedule(cfg.lr),
                optax.linear_schedule(cfg.lr, end, decay),
            ],
            [warm, warm + stable],
        )
    else:
        raise ValueError(f"unknown schedule {cfg.schedule!r}; use 'cosine', 'wsd' or 'constant' "
                         f"(or give a schedule CSV: train_run(spec, lrs=read_schedule(path, steps)))")
    # +1: the lr applied at step s is the schedule after s+1 updates' worth of warmup
    return np.array([float(sched(s + 1 if s < warm else s)) for s in range(steps)], np.float32)


def schedule_points(path) -> tuple[np.ndarray, np.ndarray]:
    """``(step, lr)`` rows of a schedule CSV (columns ``step, lr``), checked: steps increasing, rates finite, >= 0."""
    import pandas as pd

    df = pd.read_csv(path)
    if not {"step", "lr"} <= set(df.columns):
        raise ValueError(f"{path}: a schedule CSV needs columns 'step' and 'lr'; columns are {list(df.columns)}")
    s, lr = df["step"].to_numpy(float), df["lr"].to_numpy(float)
    if np.any(np.diff(s) <= 0) or np.any(~np.isfinite(lr)) or np.any(lr < 0):
        raise ValueError(f"{path}: steps must increase and lr be finite and >= 0")
    return s, lr


def read_schedule(path, steps: int) -> np.ndarray:
    """Per-update learning rates ``[steps]`` from a schedule CSV with columns ``step, lr``.

    ``lr`` at ``step`` s is the rate of the s-th update (steps count updates, from 1); between
    rows the rate is linear, and before the first row it warms up linearly from 0 at step 0 (the
    curve-table convention of ``scalelab.laws.schedule``). Rows past ``steps`` are ignored; a
    schedule that ends before ``steps`` is an error.
    """
    s, lr = schedule_points(path)
    if s[-1] < steps:
        raise ValueError(f"{path}: the schedule ends at step {s[-1]:g}, before the run's {steps} steps")
    if s[0] > 0:
        s, lr = np.concatenate([[0.0], s]), np.concatenate([[0.0], lr])
    return np.interp(np.arange(1, steps + 1, dtype=float), s, lr).astype(np.float32)


def init_model(cfg: ModelConfig, seed: int) -> Transformer:
    """A freshly initialised model (float32 parameters) from an explicit seed."""
    return Transformer(cfg, rngs=nnx.Rngs(params=jax.random.key(seed)))


def _optimizer(cfg: TrainConfig):
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)  # noqa: E731
    adamw = optax.inject_hyperparams(optax.adamw, hyperparam_dtype=jnp.float32)(
        learning_rate=0.0, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay, mask=decay_mask
    )
    parts = [optax.clip_by_global_norm(cfg.grad_clip)] if cfg.grad_clip else []
    return optax.chain(*parts, adamw)


def _opt_key(cfg: TrainConfig) -> tuple:
    return (cfg.b1, cfg.b2, cfg.eps, cfg.weight_decay, cfg.grad_clip)


@functools.lru_cache(maxsize=32)
def _compiled(mcfg: ModelConfig, opt_key: tuple):
    """(graphdef, optimizer, jitted step, jitted multi-step, jitted eval) for a model config and optimizer
    constants; cached so that runs of the same shape reuse the compiled programs."""
    b1, b2, eps, wd, clip = opt_key
    tx = _optimizer(TrainConfig(b1=b1, b2=b2, eps=eps, weight_decay=wd, grad_clip=clip))
    graphdef, _ = nnx.split(init_model(mcfg, 0))

    def losses(params, batch):
        logits, aux = nnx.merge(graphdef, params)(batch[:, :-1])
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()
        total = ce
        if aux:
            total = total + mcfg.lb_coef * aux["lb"] + mcfg.z_coef * aux["z"]
        return total, ce

    def step_fn(params, opt_state, batch, lr):
        (_, ce), grads = jax.value_and_grad(losses, has_aux=True)(params, batch)
        inner = opt_state[-1]
        inner = inner._replace(hyperparams={**inner.hyperparams, "learning_rate": lr})
        opt_state = (*opt_state[:-1], inner)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, ce

    step = jax.jit(step_fn, donate_argnums=(0, 1))

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def multi_step(params, opt_state, batches, lrs):
        """``K = len(lrs)`` steps in one call (``lax.scan`` over ``batches [K, B, T + 1]``): one
        dispatch and one host-to-device copy per K steps instead of per step, which is what
        limits small models on a GPU. Shapes do not depend on D, so runs share the program."""

        def body(carry, x):
            p, o = carry
            batch, lr = x
            p, o, ce = step_fn(p, o, batch, lr)
            return (p, o), ce

        (params, opt_state), ces = jax.lax.scan(body, (params, opt_state), (batches, lrs))
        return params, opt_state, ces

    @jax.jit
    def eval_sum(params, batch):
        logits, _ = nnx.merge(graphdef, params)(batch[:, :-1])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).sum()

    return graphdef, tx, step, multi_step, eval_sum


def _eval_loss(eval_sum, params, data: np.ndarray) -> float:
    total, count = 0.0, 0
    for i in range(0, len(data), EVAL_BATCH):
        chunk = data[i : i + EVAL_BATCH]
        n = len(chunk)
        if n < EVAL_BATCH:  # pad to the compiled shape, then drop the padding's loss
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], EVAL_BATCH - n, axis=0)])
            full = float(eval_sum(params, jnp.asarray(chunk)))
            pad = float(eval_sum(params, jnp.asarray(np.repeat(chunk[:1], EVAL_BATCH, axis=0))))
            total += full - pad * (EVAL_BATCH - n) / EVAL_BATCH
        else:
            total += float(eval_sum(params, jnp.asarray(chunk)))
        count += n * (data.shape[1] - 1)
    return total / count


def train_run(spec: RunSpec, progress=None, *, lrs=None, curve_every: int = 0) -> dict:
    """Train ``spec`` and return its RunTable row (a dict).

    ``lrs`` (``[steps]``, e.g. from `read_schedule`) replaces the config's schedule; the row's
    ``schedule`` is then ``"custom"``. With ``curve_every = k > 0`` the row also holds
    ``curve``: a list of dicts, one per logged step (every k updates, the end of warm-up and the
    last step), with ``step`` (updates done), ``lr`` (rate of that update), ``train_loss`` (mean
    training cross-entropy of the updates since the previous log) and ``loss`` (held-out
    cross-entropy, nats/token, of the parameters at that step).

    Row units: ``loss`` final held-out mean cross-entropy (nats/token); ``D`` training tokens
    actually seen (whole steps); ``C`` FLOPs by ``accounting.flops_per_token``; ``N`` =
    ``N_total`` (all parameters incl. embeddings; use ``N_active`` or ``N_nonembedding`` for
    other conventions); ``batch_size`` in sequences (``batch_tokens`` in tokens); ``S`` =
    1 - N_active / N_total. ``progress``, if given, is called with the fraction done.
    """
    m, t, d = spec.model, spec.train, spec.data
    if m.vocab_size != d.token_vocab:
        raise ValueError(f"model vocab_size={m.vocab_size} but the {d.source} source has {d.token_vocab} tokens")
    start = time.perf_counter()
    steps = t.steps(m.seq_len)
    tokens_seen = steps * t.batch_size * m.seq_len
    pool, info = tokens.train_pool(d, m.seq_len, tokens_seen, t.seed)
    held_out = tokens.eval_set(d, m.seq_len, t.eval_tokens)
    graphdef, tx, step, multi_step, eval_sum = _compiled(m, _opt_key(t))
    _, params = nnx.split(init_model(m, t.seed))
    opt_state = tx.init(params)
    custom = lrs is not None
    lrs = lr_schedule(t, steps) if lrs is None else np.asarray(lrs, np.float32)
    if lrs.shape != (steps,):
        raise ValueError(f"lrs must hold one learning rate per update ({steps}), got shape {lrs.shape}")
    order = tokens.batch_indices(len(pool), t.batch_size, steps, t.seed)
    tail = steps - max(1, steps // 10)  # train_loss: mean over the last 10 % of steps
    ces = []
    log_at = set()
    if curve_every:
        warm = int(round(t.warmup_frac * steps)) if t.warmup_frac > 0 and not custom else 0
        log_at = set(range(curve_every, steps + 1, curve_every)) | {steps} | ({warm} if 0 < warm < steps else set())
    curve, window = [], []
    s = 0
    while s < steps:
        room = min((x for x in log_at if x > s), default=steps) - s  # updates before the next log point
        if room >= CHUNK:
            params, opt_state, ce = multi_step(params, opt_state, jnp.asarray(pool[order[s : s + CHUNK]]), lrs[s : s + CHUNK])
            n = CHUNK
        else:
            params, opt_state, ce = step(params, opt_state, jnp.asarray(pool[order[s]]), lrs[s])
            ce, n = ce[None], 1
        if s + n > tail:
            ces.append(np.asarray(ce)[max(0, tail - s):])
        if curve_every:
            window.append(np.asarray(ce))
        s += n
        if s in log_at:
            curve.append({"step": s, "lr": float(lrs[s - 1]), "train_loss": float(np.mean(np.concatenate(window))),
                          "loss": _eval_loss(eval_sum, params, held_out)})
            window = []
        if progress is not None:
            progress(s / steps)
    train_losses = np.concatenate(ces)
    loss = _eval_loss(eval_sum, params, held_out)
    counts = accounting.param_counts(m)
    wall = time.perf_counter() - start
    return {
        "N": counts["total"],
        "N_total": counts["total"],
        "N_active": counts["active"],
        "N_nonembedding": counts["non_embedding"],
        "N_active_nonembedding": counts["active_non_embedding"],
        "D": tokens_seen,
        "C": accounting.training_flops(m, tokens_seen),
        "loss": loss,
        "train_loss": float(np.mean(train_losses)),
        "E": m.n_experts,
        "k": m.top_k,
        "S": 1.0 - counts["active"] / counts["total"],
        "G": m.granularity,
        "U_D": info["U_D"],
        "epochs": info["epochs"],
        "ngram_repeat": info["ngram_repeat"],  # not Chen's `density` (see proxy.tokens)
        "duplication": d.duplication,
        "lr": float(np.max(lrs)) if custom else t.lr,  # a custom schedule's peak, the rate the run reached
        "batch_size": t.batch_size,
        "batch_tokens": t.batch_size * m.seq_len,
        "schedule": "custom" if custom else t.schedule,
        "step": steps,
        "seed": t.seed,
        "run_id": spec.run_id,
        "family": m.family,
        "plan": spec.plan,
        "tag": spec.tag,
        "source": d.source,
        "entropy_floor": tokens.entropy_floor(d, m.seq_len),
        "d_model": m.d_model,
        "n_layers": m.n_layers,
        "seq_len": m.seq_len,
        "compute_dtype": m.compute_dtype,
        "wall_s": wall,
        **({"curve": curve} if curve_every else {}),
    }
