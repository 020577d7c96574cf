"""Exact parameter and FLOP accounting of ``model.Transformer``, from its config alone.

Parameter conventions (all counts in parameters):

- ``total``: every parameter in the model's state tree (the token embedding is tied to the
  output projection and counted once).
- ``embedding``: token embedding ``V * d`` plus learned positions ``T * d``.
- ``non_embedding`` = ``total - embedding`` (attention, feed-forward / experts, routers, norms).
- ``active``: parameters one token uses: ``total`` less the ``E - k`` unused experts of every
  MoE block. Equal to ``total`` for a dense model.
- ``active_non_embedding`` = ``active - embedding``.

FLOP convention (``flops_per_token``), per *training token* (one target position):
multiply-accumulate = 2 FLOPs; only matmuls are counted (norms, softmax, GELU, the optimiser
are not); backward = 2 x forward, so training = 3 x forward. Forward per token:

- each block: q/k/v/out projections ``2 * 4 d^2``; attention logits and weighted values
  ``2 * 2 * T * d`` (the full T x T matrix, as Chinchilla App. F and PaLM's MFU count it,
  although a causal mask makes half of it zeros); dense FFN ``2 * 2 * d * d_ff``, or MoE
  router ``2 * d * E`` plus ``k`` experts ``k * 2 * 2 * d * d_ff / G``;
- the tied output projection ``2 * d * V``.

So ``C = D * (6 * N_matmul_active + 12 * L * T * d)`` where ``N_matmul_active`` are the active
weights used in matmuls (active non-embedding params less norms, plus ``V * d`` for the output
projection): the usual ``6 N D`` with active parameters for MoE plus attention terms.
MoE implementations that compute more (``moe_impl="dense"``, a capacity factor > 1) do extra
work that is *not* model FLOPs and is not counted.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from .config import ModelConfig

__all__ = ["param_counts", "flops_per_token", "training_flops", "state_param_count", "traced_matmul_flops"]


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameter counts by the conventions of the module docstring (keys: total, active,
    embedding, non_embedding, active_non_embedding)."""
    d, v, t = cfg.d_model, cfg.vocab_size, cfg.seq_len
    embedding = v * d + t * d
    attn = 4 * d * d
    norms = 2 * d
    total = embedding + d  # + final norm
    active = embedding + d
    for i in range(cfg.n_layers):
        if cfg.is_moe_layer(i):
            expert = 2 * d * cfg.expert_width
            total += attn + norms + d * cfg.n_experts + cfg.n_experts * expert
            active += attn + norms + d * cfg.n_experts + cfg.top_k * expert
        else:
            total += attn + norms + 2 * d * cfg.ff_width
            active += attn + norms + 2 * d * cfg.ff_width
    return {
        "total": total,
        "active": active,
        "embedding": embedding,
        "non_embedding": total - embedding,
        "active_non_embedding": active - embedding,
    }


def flops_per_token(cfg: ModelConfig, training: bool = True) -> int:
    """Matmul FLOPs per token (training = 3 x forward) by the module's convention; the sequence
    is ``cfg.seq_len`` long."""
    d, t = cfg.d_model, cfg.seq_len
    fwd = 2 * d * cfg.vocab_size
    for i in range(cfg.n_layers):
        fwd += 2 * 4 * d * d + 2 * 2 * t * d
        if cfg.is_moe_layer(i):
            fwd += 2 * d * cfg.n_experts + cfg.top_k * 2 * 2 * d * cfg.expert_width
        else:
            fwd += 2 * 2 * d * cfg.ff_width
    return 3 * fwd if training else fwd


def training_flops(cfg: ModelConfig, tokens: int) -> float:
    """C in FLOPs for ``tokens`` training tokens (D)."""
    return float(flops_per_token(cfg)) * float(tokens)


def state_param_count(model) -> int:
    """Sum of the sizes of every ``nnx.Param`` in a model's state (the reference for ``total``)."""
    from flax import nnx

    return int(sum(np.size(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param))))


def traced_matmul_flops(fn, *args) -> int:
    """Matmul FLOPs of ``fn(*args)`` read from its jaxpr: ``2 * size(out) * prod(contracted)``
    for every ``dot_general`` and ``ragged_dot_general`` (for a ragged dot every row meets one
    group, so this is its true cost), recursing into sub-jaxprs. An independent check of
    ``flops_per_token``; nothing is executed."""
    closed = jax.make_jaxpr(fn)(*args)
    return _jaxpr_flops(closed.jaxpr)


def _jaxpr_flops(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in ("dot_general", "ragged_dot_general"):
            lhs = eqn.invars[0].aval.shape
            out = eqn.outvars[0].aval.shape
            if name == "dot_general":
                contract = eqn.params["dimension_numbers"][0][0]
            else:
                contract = eqn.params["ragged_dot_dimension_numbers"].dot_dimension_numbers[0][0]
            total += 2 * math.prod(out) * math.prod(lhs[i] for i in contract)
        for sub in _subjaxprs(eqn.params):
            total += _jaxpr_flops(sub)
    return total


def _subjaxprs(params):
    for v in params.values():
        for item in v if isinstance(v, (list, tuple)) else (v,):
            if hasattr(item, "jaxpr") and hasattr(item.jaxpr, "eqns"):
                yield item.jaxpr
            elif hasattr(item, "eqns"):
                yield item
