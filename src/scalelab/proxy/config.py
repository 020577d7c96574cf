"""Frozen configurations of a proxy run: the model, the optimiser, the token source.

Units used throughout ``scalelab.proxy``:

- ``seq_len`` is in tokens; ``batch_size`` is in *sequences* (``batch_tokens = batch_size * seq_len``).
- ``tokens`` (D) counts training tokens seen, i.e. ``steps * batch_size * seq_len`` target
  positions; repeated tokens count every time they are seen.
- ``unique_tokens`` (U_D) is the size of the training pool; ``D / U_D`` is the number of epochs.
- parameter counts are in parameters (not bytes); see ``accounting`` for total / active /
  embedding conventions.

A config is plain data (a frozen dataclass): it builds the model (``model.Transformer``), gives
the exact accounting (``accounting``), and names the run (``run_id``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Literal

__all__ = ["ModelConfig", "TrainConfig", "DataConfig", "RunSpec"]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer, dense (``n_experts == 1``) or Mixture-of-Experts.

    Attributes:
      vocab_size: tokens in the vocabulary (256 for bytes).
      seq_len: context length in tokens (learned positional embeddings of this length).
      d_model: residual width.
      n_layers: transformer blocks.
      n_heads: attention heads (``d_model % n_heads == 0``).
      d_ff: hidden width of the *dense* feed-forward block (default ``4 * d_model``).
      n_experts: E, experts per MoE layer; 1 means a dense model.
      top_k: k, experts each token is routed to.
      granularity: G, expert hidden width is ``d_ff // G`` (Krajewski et al. 2024). With
        ``top_k == G`` an MoE layer has the active width of the dense block it replaces.
      moe_every: every ``moe_every``-th block (counting from the first) is an MoE block.
      capacity_factor: None (default) routes every token (no drops). A number c gives each
        expert ``ceil(c * tokens * k / E)`` slots and drops what overflows (GShard style).
      moe_impl: how the dropless MoE is computed: ``"dense"`` evaluates every expert on every
        token and weights by the (mostly zero) gates (exact; wasteful, but fastest on CPU for
        small E), ``"ragged"`` sorts token-slots by expert and uses ``jax.lax.ragged_dot``
        (exact, active FLOPs only), ``"auto"`` picks dense on CPU or when E / k <= 4,
        else ragged (see ``model.moe_impl_for``).
        The accounting (``accounting.flops_per_token``) always counts active FLOPs.
      lb_coef, z_coef: weights of the Switch load-balancing loss and the ST-MoE router z-loss.
      compute_dtype: ``"float32"`` or ``"bfloat16"``; parameters are always float32.
      attn_impl: ``None`` (XLA) or ``"cudnn"`` for ``jax.nn.dot_product_attention``.
    """

    vocab_size: int = 256
    seq_len: int = 64
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    n_experts: int = 1
    top_k: int = 1
    granularity: int = 1
    moe_every: int = 1
    capacity_factor: float | None = None
    moe_impl: Literal["auto", "dense", "ragged"] = "auto"
    lb_coef: float = 0.01
    z_coef: float = 1e-3
    compute_dtype: Literal["float32", "bfloat16"] = "float32"
    attn_impl: Literal["cudnn"] | None = None

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not a multiple of n_heads={self.n_heads}")
        if self.n_experts < 1 or not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"need 1 <= top_k <= n_experts, got k={self.top_k}, E={self.n_experts}")
        if self.ff_width % self.granularity:
            raise ValueError(f"d_ff={self.ff_width} is not a multiple of granularity G={self.granularity}")

    @property
    def ff_width(self) -> int:
        """Hidden width of the dense feed-forward block."""
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def expert_width(self) -> int:
        """Hidden width of one expert: ``d_ff // G``."""
        return self.ff_width // self.granularity

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def family(self) -> str:
        return "moe" if self.is_moe else "dense"

    def is_moe_layer(self, i: int) -> bool:
        """Whether block ``i`` (0-based) carries an MoE feed-forward block."""
        return self.is_moe and i % self.moe_every == 0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser and length of a run.

    Attributes:
      tokens: D, training tokens (rounded down to whole steps of ``batch_size * seq_len``).
      batch_size: sequences per step.
      lr: peak learning rate of AdamW.
      schedule: ``"cosine"`` (linear warmup, cosine decay to ``final_lr_frac * lr``) or
        ``"wsd"`` (warmup, stable at ``lr``, linear decay over the last ``decay_frac`` of steps).
      warmup_frac: fraction of steps of linear warmup from 0.
      weight_decay: AdamW decoupled weight decay, applied to matrices only (not norms, biases).
      b1, b2, eps: Adam moments.
      grad_clip: global-norm clip (None: none).
      eval_tokens: held-out tokens for the final evaluation loss.
      seed: seeds parameter init and data order; the same seed gives the same run.
    """

    tokens: int = 2**18
    batch_size: int = 16
    lr: float = 3e-3
    schedule: Literal["cosine", "wsd"] = "cosine"
    warmup_frac: float = 0.05
    decay_frac: float = 0.2
    final_lr_frac: float = 0.1
    weight_decay: float = 0.1
    b1: float = 0.9
    b2: float = 0.95
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    eval_tokens: int = 2**15
    seed: int = 0

    def steps(self, seq_len: int) -> int:
        """Optimiser steps for ``tokens`` at ``batch_size * seq_len`` tokens per step (>= 1)."""
        return max(1, self.tokens // (self.batch_size * seq_len))


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the tokens come from (see ``tokens``).

    Attributes:
      source: ``"synthetic"`` (a random order-``order`` Markov language with a known entropy
        floor) or ``"text"`` (bytes of local files; default: the Python standard library).
      vocab_size: synthetic vocabulary (text is always 256 bytes).
      order: context length of the synthetic language's Markov chain.
      mix: weight of the order-``order`` component against the bigram component (0..1); higher
        makes the language need more capacity to learn.
      concentration: Dirichlet concentration of the synthetic transition rows (smaller: lower
        entropy floor, more redundant language).
      language_seed: which synthetic language (the same for every run of a plan).
      unique_tokens: U_D, size of the training pool in tokens; None means as many as the run
        trains on (one epoch, no repetition).
      duplication: fraction of the training pool's sequences that are copies of a small set of
        prototype sequences (0: none). Raises the measured ``ngram_repeat``.
      n_prototypes: distinct prototypes the duplicates are drawn from.
      paths: files or globs for ``"text"``; empty means the default corpus.
      max_bytes: cap on bytes read for ``"text"``.
    """

    source: Literal["synthetic", "text"] = "synthetic"
    vocab_size: int = 64
    order: int = 2
    mix: float = 0.7
    concentration: float = 0.1
    language_seed: int = 1234
    unique_tokens: int | None = None
    duplication: float = 0.0
    n_prototypes: int = 16
    paths: tuple[str, ...] = ()
    max_bytes: int = 8_000_000

    @property
    def token_vocab(self) -> int:
        return 256 if self.source == "text" else self.vocab_size


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One proxy run: model, training and data configuration, plus the plan it belongs to."""

    model: ModelConfig
    train: TrainConfig
    data: DataConfig
    plan: str = "adhoc"
    tag: str = ""

    @property
    def run_id(self) -> str:
        """Stable id: a hash of every field of the three configs (not of the plan name), so
        the same run listed by two plans is recognised as done."""
        blob = json.dumps(
            [dataclasses.asdict(self.model), dataclasses.asdict(self.train), dataclasses.asdict(self.data)],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha1(blob.encode()).hexdigest()[:12]
