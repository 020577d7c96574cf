"""Sweep planners (pure functions returning lists of ``RunSpec``) and the named plans.

Planners:

- ``isoflop_ladder``: for each compute budget C (FLOPs) and each model, the run with
  ``D = C / flops_per_token(model)`` tokens (rounded down to whole steps).
- ``dense_vs_moe``: dense and MoE runs at matched training compute: the MoE layer keeps the
  dense block's active width (``k * d_ff / G == d_ff``) so the two differ in FLOPs only by the
  router (``2 d E`` per token per layer, < 1 %), and they train on the same D.
- ``lr_batch_grid``: learning rate x batch size (sequences) at a fixed token budget.
- ``otr_grid``: over-training ratios OTR = D / N_total for each model.
- ``density_grid``: a data budget U_D repeated to D, for several duplication levels.

Named plans (``PLANS``, listed by ``scalelab proxy plans``) scale from ``micro`` (2 runs, for
tests) and ``tiny`` (CPU, minutes) upward. Every plan takes a ``seed``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from .accounting import flops_per_token, param_counts
from .config import DataConfig, ModelConfig, RunSpec, TrainConfig
from .train import default_compute_dtype

__all__ = [
    "isoflop_ladder",
    "dense_vs_moe",
    "lr_batch_grid",
    "otr_grid",
    "density_grid",
    "moe_of",
    "get_plan",
    "PLANS",
]

# The synthetic language every CPU plan uses: 32 tokens, order 2; unigram entropy 3.42, bigram
# conditional entropy 2.61, floor (entropy rate) 1.85 nats/token.
TINY_DATA = DataConfig(vocab_size=32, order=2, mix=0.5, concentration=0.05)


def _round_tokens(tokens: float, train: TrainConfig, seq_len: int) -> int:
    per_step = train.batch_size * seq_len
    return max(per_step, int(tokens // per_step) * per_step)


def moe_of(model: ModelConfig, n_experts: int = 8, top_k: int = 2, granularity: int | None = None, **kw) -> ModelConfig:
    """The MoE counterpart of a dense config: E experts, top-k, granularity G (default G = k,
    which keeps the active feed-forward width equal to the dense one)."""
    g = top_k if granularity is None else granularity
    return dataclasses.replace(model, n_experts=n_experts, top_k=top_k, granularity=g, **kw)


def isoflop_ladder(
    budgets: Sequence[float], models: Sequence[ModelConfig], train: TrainConfig, data: DataConfig,
    plan: str = "isoflop", min_steps: int = 16,
) -> list[RunSpec]:
    """One run per (budget C in FLOPs, model); runs shorter than ``min_steps`` are skipped."""
    out = []
    for c in budgets:
        for m in models:
            tokens = _round_tokens(c / flops_per_token(m), train, m.seq_len)
            if tokens // (train.batch_size * m.seq_len) < min_steps:
                continue
            out.append(RunSpec(m, dataclasses.replace(train, tokens=tokens), data, plan, f"C={c:.3g}"))
    return out


def dense_vs_moe(
    models: Sequence[ModelConfig], token_budgets: Sequence[int], train: TrainConfig, data: DataConfig,
    plan: str = "dense_vs_moe", **moe_kw,
) -> list[RunSpec]:
    """For every dense model and token budget D: the dense run and its ``moe_of`` twin on the
    same D (same active FLOPs up to the router)."""
    out = []
    for m in models:
        for tokens in token_budgets:
            t = dataclasses.replace(train, tokens=_round_tokens(tokens, train, m.seq_len))
            out.append(RunSpec(m, t, data, plan, "dense"))
            out.append(RunSpec(moe_of(m, **moe_kw), t, data, plan, "moe"))
    return out


def lr_batch_grid(
    models: Sequence[ModelConfig], lrs: Sequence[float], batch_sizes: Sequence[int], tokens: int,
    train: TrainConfig, data: DataConfig, plan: str = "lr_batch",
) -> list[RunSpec]:
    """Learning rate x batch size (sequences) for each model at ``tokens`` training tokens."""
    return [
        RunSpec(m, dataclasses.replace(train, lr=lr, batch_size=b, tokens=_round_tokens(tokens, dataclasses.replace(train, batch_size=b), m.seq_len)), data, plan, f"lr={lr:g},B={b}")
        for m in models
        for b in batch_sizes
        for lr in lrs
    ]


def otr_grid(
    models: Sequence[ModelConfig], otrs: Sequence[float], train: TrainConfig, data: DataConfig, plan: str = "otr",
) -> list[RunSpec]:
    """Runs at over-training ratios OTR = D / N_total for each model."""
    return [
        RunSpec(m, dataclasses.replace(train, tokens=_round_tokens(r * param_counts(m)["total"], train, m.seq_len)), data, plan, f"OTR={r:g}")
        for m in models
        for r in otrs
    ]


def density_grid(
    models: Sequence[ModelConfig], token_budgets: Sequence[int], duplications: Sequence[float], unique_tokens: int | None,
    train: TrainConfig, data: DataConfig, plan: str = "density",
) -> list[RunSpec]:
    """For each duplication level: the pool of ``unique_tokens`` (U_D; None = fresh data),
    that fraction of it replaced by copies of a few prototypes, trained for each D."""
    return [
        RunSpec(m, dataclasses.replace(train, tokens=_round_tokens(tk, train, m.seq_len)),
                dataclasses.replace(data, duplication=dup, unique_tokens=unique_tokens), plan, f"dup={dup:g}")
        for m in models
        for dup in duplications
        for tk in token_budgets
    ]


# ---------------------------------------------------------------- named plans


def _tiny_model(d_model: int, n_layers: int = 2, **kw) -> ModelConfig:
    return ModelConfig(
        vocab_size=TINY_DATA.vocab_size, seq_len=64, d_model=d_model, n_layers=n_layers,
        n_heads=4, compute_dtype=default_compute_dtype(), **kw,
    )


def _tiny_train(seed: int, **kw) -> TrainConfig:
    base = dict(batch_size=16, lr=1e-2, schedule="cosine", warmup_frac=0.05, eval_tokens=2**15, seed=seed)
    return TrainConfig(**{**base, **kw})


def plan_micro(seed: int = 0) -> list[RunSpec]:
    """2 runs (dense and MoE, d=16, 32 steps): a smoke test in seconds."""
    m = _tiny_model(16, n_layers=1)
    return dense_vs_moe([m], [32 * 8 * 64], _tiny_train(seed, batch_size=8, eval_tokens=2**12), TINY_DATA, "micro", n_experts=4, top_k=2)


def plan_tiny(seed: int = 0) -> list[RunSpec]:
    """12 runs on CPU in minutes: dense d in {16, 32, 64} (2 layers) and their MoE twins (E=8,
    k=2, G=2), each at D = 2**18 and 2**19 tokens. Losses fall with N and with D; MoE vs dense
    at matched compute."""
    models = [_tiny_model(d) for d in (16, 32, 64)]
    return dense_vs_moe(models, [2**18, 2**19], _tiny_train(seed), TINY_DATA, "tiny", n_experts=8, top_k=2)


def plan_tiny_demo(seed: int = 0) -> list[RunSpec]:
    """30 runs, the demo's table (``scalelab/data/proxy_tiny_demo.csv``): dense d in
    {16, 24, 32, 48, 64} (2 layers) and their MoE twins (E=8, k=2, G=2), each at D = 2**17,
    2**18 and 2**19 tokens; a superset of ``tiny`` (same run ids), with enough sizes and token
    counts for credible intervals on chinchilla and wang2024_moe. ~5 min on 2 CPU cores."""
    models = [_tiny_model(d) for d in (16, 24, 32, 48, 64)]
    return dense_vs_moe(models, [2**17, 2**18, 2**19], _tiny_train(seed), TINY_DATA, "tiny-demo", n_experts=8, top_k=2)


def plan_tiny_lr_batch(seed: int = 0) -> list[RunSpec]:
    """Learning rate x batch size grid (3 lr x 4 batch sizes) for dense d=48 and its MoE twin
    at D = 2**18 and 2**19 (48 runs, ~10 min on 2 CPU cores): optimal lr and batch size of each
    family at two loss levels."""
    m = _tiny_model(48)
    return [
        spec
        for tokens in (2**18, 2**19)
        for spec in lr_batch_grid([m, moe_of(m)], [3e-3, 1e-2, 3e-2], [4, 8, 16, 32], tokens, _tiny_train(seed), TINY_DATA, "tiny-lr-batch")
    ]


def plan_tiny_density(seed: int = 0) -> list[RunSpec]:
    """Data-density grid: dense d=48, U_D = 2**16 unique-pool tokens repeated to D in
    {2**16, 2**17, 2**18, 2**19}, duplication 0, 0.5, 0.9 (ngram_repeat ~0, ~0.5, ~0.9)."""
    return density_grid([_tiny_model(48)], [2**16, 2**17, 2**18, 2**19], [0.0, 0.5, 0.9], 2**16,
                        _tiny_train(seed), TINY_DATA, "tiny-density")


def plan_tiny_density_grid(seed: int = 0) -> list[RunSpec]:
    """Data-density grid large enough to compare laws per duplication level: dense d in
    {32, 48, 64} (2 layers), U_D = 2**16 unique-pool tokens repeated to D in {2**16 .. 2**20},
    duplication 0, 0.5, 0.9 (45 runs, roughly 10-20 min on 2 shared CPU cores). Fit on
    D <= 2**19, predict D = 2**20: see ``benchmarks/proxy_density.py``."""
    models = [_tiny_model(d) for d in (32, 48, 64)]
    return density_grid(models, [2**k for k in range(16, 21)], [0.0, 0.5, 0.9], 2**16,
                        _tiny_train(seed), TINY_DATA, "tiny-density-grid")


def plan_tiny_otr(seed: int = 0) -> list[RunSpec]:
    """Over-training grid: dense d in {32, 64} at OTR = D / N_total in {1, 4, 16}."""
    return otr_grid([_tiny_model(32), _tiny_model(64)], [1, 4, 16], _tiny_train(seed), TINY_DATA, "tiny-otr")


def plan_small(seed: int = 0) -> list[RunSpec]:
    """isoFLOP ladder, dense and MoE (E=8, k=2, G=2): budgets 1e11..1e13 FLOPs x d in
    {32, 48, 64, 96, 128}, 2-4 layers. Sum of C is ~1.4e14 FLOPs: roughly 1-2 hours on 2 CPU
    cores (the MoE runs compute all experts there), minutes on a GPU."""
    dense = [_tiny_model(32), _tiny_model(48), _tiny_model(64, 3), _tiny_model(96, 3), _tiny_model(128, 4)]
    models = dense + [moe_of(m) for m in dense]
    return isoflop_ladder([1e11, 3e11, 1e12, 3e12, 1e13], models, _tiny_train(seed), TINY_DATA, "small")


def plan_gpu_base(seed: int = 0) -> list[RunSpec]:
    """GPU isoFLOP ladder on bytes of the default text corpus (Python stdlib), seq 256,
    d in {128 .. 512}, dense and MoE (E=8, k=2, G=2), budgets 1e15..1e17 FLOPs. Sum of C is
    ~1.2e18 FLOPs: about an hour or more on one H100/H200 (small models run far below peak)."""
    def m(d, layers):
        return ModelConfig(vocab_size=256, seq_len=256, d_model=d, n_layers=layers, n_heads=max(4, d // 64),
                           compute_dtype=default_compute_dtype())
    dense = [m(128, 4), m(256, 4), m(384, 6), m(512, 8)]
    train = TrainConfig(batch_size=64, lr=3e-3, eval_tokens=2**18, seed=seed)
    return isoflop_ladder([1e15, 3e15, 1e16, 3e16, 1e17], dense + [moe_of(x) for x in dense], train,
                          DataConfig(source="text"), "gpu-base")


PLANS: dict[str, Callable[[int], list[RunSpec]]] = {
    "micro": plan_micro,
    "tiny": plan_tiny,
    "tiny-demo": plan_tiny_demo,
    "tiny-lr-batch": plan_tiny_lr_batch,
    "tiny-density": plan_tiny_density,
    "tiny-density-grid": plan_tiny_density_grid,
    "tiny-otr": plan_tiny_otr,
    "small": plan_small,
    "gpu-base": plan_gpu_base,
}


def get_plan(name: str, seed: int = 0) -> list[RunSpec]:
    """The runs of a named plan (see ``PLANS``)."""
    if name not in PLANS:
        raise KeyError(f"unknown plan {name!r}; known plans: {', '.join(PLANS)}")
    return PLANS[name](seed)
