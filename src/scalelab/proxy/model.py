"""A decoder-only transformer in flax nnx, dense or Mixture-of-Experts.

Pre-norm blocks (RMSNorm), causal multi-head attention without biases, GELU feed-forward,
learned positional embeddings, token embedding tied to the output projection. The dense and
MoE blocks differ only in the feed-forward block (``MLP`` vs ``MoE``).

Dtypes are explicit: parameters are float32 always; matmuls run in ``cfg.compute_dtype``
(float32 on CPU, bfloat16 on GPU); the router, the logits and the losses are float32. Nothing
here depends on ``jax_enable_x64``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from .config import ModelConfig

__all__ = ["Transformer", "Block", "Attention", "MLP", "MoE", "moe_impl_for"]

F32 = jnp.float32


def _dtype(cfg: ModelConfig):
    return jnp.bfloat16 if cfg.compute_dtype == "bfloat16" else jnp.float32


def moe_impl_for(cfg: ModelConfig) -> str:
    """The MoE implementation actually used: ``capacity`` if a capacity factor is set, else
    ``cfg.moe_impl``, with ``auto`` resolved to ``dense`` on CPU or when ``E / k <= 4`` and to
    ``ragged`` otherwise. Why: the dense form does ``E / k`` times the active expert FLOPs but
    as a few large matmuls; on an H200 (jax 0.11, bf16, E=8, k=2, d=768) it reached 21 % MFU
    against 12 % for ``ragged_dot`` (benchmarks/proxy_speed.py), and on CPU ``ragged_dot`` is
    ~20x slower than a dense matmul of the same shape."""
    if cfg.capacity_factor is not None:
        return "capacity"
    if cfg.moe_impl == "auto":
        cheap = cfg.n_experts / cfg.top_k <= 4
        return "dense" if cheap or jax.default_backend() == "cpu" else "ragged"
    return cfg.moe_impl


class Attention(nnx.Module):
    """Causal multi-head self-attention: fused q/k/v projection ``d -> 3d`` and output ``d -> d``."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, dt = cfg.d_model, _dtype(cfg)
        self.n_heads = cfg.n_heads
        self.impl = cfg.attn_impl
        self.qkv = nnx.Linear(d, 3 * d, use_bias=False, dtype=dt, param_dtype=F32, rngs=rngs)
        self.out = nnx.Linear(d, d, use_bias=False, dtype=dt, param_dtype=F32, rngs=rngs)

    def __call__(self, x):  # x: [B, T, d]
        b, t, d = x.shape
        q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
        shape = (b, t, self.n_heads, d // self.n_heads)
        y = jax.nn.dot_product_attention(
            q.reshape(shape), k.reshape(shape), v.reshape(shape), is_causal=True, implementation=self.impl
        )
        return self.out(y.reshape(b, t, d))


class MLP(nnx.Module):
    """Dense feed-forward block ``d -> d_ff -> d`` with GELU, no biases."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, f, dt = cfg.d_model, cfg.ff_width, _dtype(cfg)
        self.up = nnx.Linear(d, f, use_bias=False, dtype=dt, param_dtype=F32, rngs=rngs)
        self.down = nnx.Linear(f, d, use_bias=False, dtype=dt, param_dtype=F32, rngs=rngs)

    def __call__(self, x):
        return self.down(jax.nn.gelu(self.up(x))), {}


class MoE(nnx.Module):
    """Top-k routed Mixture-of-Experts feed-forward block.

    E experts, each ``d -> d_ff/G -> d`` with GELU; a float32 linear router ``d -> E``; each token
    goes to its k highest-probability experts and their outputs are summed, weighted by the
    router's softmax probabilities of those experts (not renormalised, so k = 1 still trains
    the router, as in Switch). Auxiliary losses, both returned un-weighted:

    - ``lb``: Switch load-balancing loss ``E * sum_e f_e * P_e`` (f_e: share of the token-slots
      routed to e, P_e: mean router probability of e); 1 when routing is uniform.
    - ``z``: ST-MoE router z-loss ``mean(logsumexp(router_logits) ** 2)``.
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, f, e = cfg.d_model, cfg.expert_width, cfg.n_experts
        self.cfg = cfg
        init = jax.nn.initializers.lecun_normal(in_axis=-2, out_axis=-1, batch_axis=(0,))
        self.router = nnx.Param(jax.nn.initializers.lecun_normal()(rngs.params(), (d, e), F32))
        self.w_up = nnx.Param(init(rngs.params(), (e, d, f), F32))
        self.w_down = nnx.Param(init(rngs.params(), (e, f, d), F32))

    def __call__(self, x):  # x: [B, T, d]
        cfg, dt = self.cfg, _dtype(self.cfg)
        b, t, d = x.shape
        xf = x.reshape(b * t, d)
        logits = xf.astype(F32) @ self.router[...]  # [M, E], float32
        probs = jax.nn.softmax(logits, axis=-1)
        gate, expert = jax.lax.top_k(probs, cfg.top_k)  # [M, k]
        w_up, w_down = self.w_up[...].astype(dt), self.w_down[...].astype(dt)
        impl = moe_impl_for(cfg)
        if impl == "dense":
            y = _moe_dense(xf.astype(dt), w_up, w_down, gate, expert, cfg.n_experts)
        elif impl == "ragged":
            y = _moe_ragged(xf.astype(dt), w_up, w_down, gate, expert, cfg.n_experts)
        else:
            y = _moe_capacity(xf.astype(dt), w_up, w_down, gate, expert, cfg.n_experts, cfg.capacity_factor)
        counts = jnp.zeros(cfg.n_experts, F32).at[expert.reshape(-1)].add(1.0)
        frac = counts / expert.size
        aux = {
            "lb": cfg.n_experts * jnp.sum(frac * probs.mean(axis=0)),
            "z": jnp.mean(jax.nn.logsumexp(logits, axis=-1) ** 2),
        }
        return y.reshape(b, t, d).astype(x.dtype), aux


def _moe_dense(x, w_up, w_down, gate, expert, n_experts):
    """Every expert on every token, combined with a dense [M, E] gate matrix (zeros off the top-k)."""
    g = jnp.zeros((x.shape[0], n_experts), F32).at[jnp.arange(x.shape[0])[:, None], expert].set(gate)
    h = jax.nn.gelu(jnp.einsum("md,edf->emf", x, w_up))
    y = jnp.einsum("emf,efd->emd", h, w_down)
    return jnp.einsum("emd,me->md", y.astype(F32), g)


def _moe_ragged(x, w_up, w_down, gate, expert, n_experts):
    """Dropless grouped matmul: token-slots sorted by expert, ``ragged_dot`` per expert group."""
    k = expert.shape[1]
    flat = expert.reshape(-1)
    order = jnp.argsort(flat, stable=True)
    tok = order // k
    sizes = jnp.bincount(flat, length=n_experts).astype(jnp.int32)
    h = jax.nn.gelu(jax.lax.ragged_dot(x[tok], w_up, sizes))
    y = jax.lax.ragged_dot(h, w_down, sizes).astype(F32) * gate.reshape(-1)[order][:, None]
    return jnp.zeros((x.shape[0], x.shape[1]), F32).at[tok].add(y)


def _moe_capacity(x, w_up, w_down, gate, expert, n_experts, capacity_factor):
    """GShard-style fixed capacity: each expert gets ``ceil(c * M * k / E)`` slots; token-slots
    beyond an expert's capacity are dropped (contribute zero)."""
    m, k = expert.shape
    cap = max(1, math.ceil(capacity_factor * m * k / n_experts))
    flat = expert.reshape(-1)
    order = jnp.argsort(flat, stable=True)
    e_sorted = flat[order]
    starts = jnp.cumsum(jnp.bincount(flat, length=n_experts)) - jnp.bincount(flat, length=n_experts)
    pos = jnp.arange(m * k) - starts[e_sorted]
    tok = order // k
    buf = jnp.zeros((n_experts, cap, x.shape[1]), x.dtype).at[e_sorted, pos].set(x[tok], mode="drop")
    h = jax.nn.gelu(jnp.einsum("ecd,edf->ecf", buf, w_up))
    out = jnp.einsum("ecf,efd->ecd", h, w_down)
    keep = (pos < cap)[:, None]
    y = jnp.where(keep, out.at[e_sorted, jnp.minimum(pos, cap - 1)].get(), 0).astype(F32)
    y = y * gate.reshape(-1)[order][:, None]
    return jnp.zeros((m, x.shape[1]), F32).at[tok].add(y)


class Block(nnx.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + ffn(norm(x))``."""

    def __init__(self, cfg: ModelConfig, moe: bool, *, rngs: nnx.Rngs):
        dt = _dtype(cfg)
        self.norm1 = nnx.RMSNorm(cfg.d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.attn = Attention(cfg, rngs=rngs)
        self.norm2 = nnx.RMSNorm(cfg.d_model, dtype=dt, param_dtype=F32, rngs=rngs)
        self.ffn = MoE(cfg, rngs=rngs) if moe else MLP(cfg, rngs=rngs)

    def __call__(self, x):
        x = x + self.attn(self.norm1(x))
        y, aux = self.ffn(self.norm2(x))
        return x + y, aux


class Transformer(nnx.Module):
    """Decoder-only language model. ``model(tokens[B, T]) -> (logits[B, T, V] float32, aux)``
    where ``aux`` holds the MoE auxiliary losses averaged over MoE blocks (empty when dense)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, dt = cfg.d_model, _dtype(cfg)
        self.cfg = cfg
        # std 1/sqrt(d): unit-norm input vectors and unit-scale tied logits at init.
        self.embed = nnx.Embed(
            cfg.vocab_size, d, dtype=dt, param_dtype=F32,
            embedding_init=jax.nn.initializers.normal(d**-0.5), rngs=rngs,
        )
        self.pos = nnx.Param(jax.nn.initializers.normal(0.02)(rngs.params(), (cfg.seq_len, d), F32))
        self.blocks = nnx.List([Block(cfg, cfg.is_moe_layer(i), rngs=rngs) for i in range(cfg.n_layers)])
        self.norm = nnx.RMSNorm(d, dtype=dt, param_dtype=F32, rngs=rngs)

    def __call__(self, tokens):
        dt = _dtype(self.cfg)
        t = tokens.shape[1]
        x = self.embed(tokens).astype(dt) + self.pos[...][:t].astype(dt)
        auxes = []
        for block in self.blocks:
            x, aux = block(x)
            if aux:
                auxes.append(aux)
        logits = self.embed.attend(self.norm(x)).astype(F32)
        aux = {k: jnp.mean(jnp.stack([a[k] for a in auxes])) for k in ("lb", "z")} if auxes else {}
        return logits, aux
