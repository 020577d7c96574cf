"""Parameter and FLOP accounting of the proxy transformer, checked against the model itself:
parameter counts against the sizes in its nnx state tree, FLOPs against the matmul shapes in
its traced forward pass (jaxpr). Both references are exact integers, so equality is exact."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from scalelab.proxy import accounting
from scalelab.proxy.config import ModelConfig
from scalelab.proxy.model import Transformer


@pytest.fixture(autouse=True)
def _x64():
    """JAX's 64-bit mode on around each test, as a caller may have it: the proxy is explicit about dtypes."""
    with jax.enable_x64(True):
        yield


CONFIGS = [
    ModelConfig(vocab_size=32, seq_len=16, d_model=32, n_layers=2, n_heads=4),
    ModelConfig(vocab_size=32, seq_len=16, d_model=32, n_layers=3, n_heads=2, n_experts=4, top_k=2, granularity=2, moe_every=2),
    ModelConfig(vocab_size=48, seq_len=8, d_model=16, n_layers=2, n_heads=2, d_ff=48, n_experts=8, top_k=1, granularity=3),
]


def _state_sizes(model):
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    return {"/".join(map(str, path)): int(np.size(v.get_value() if hasattr(v, "get_value") else v.value)) for path, v in flat}


@pytest.mark.parametrize("cfg", CONFIGS, ids=["dense", "moe-every2", "moe-top1-G3"])
def test_param_counts_match_state_tree(cfg):
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    sizes = _state_sizes(model)
    counts = accounting.param_counts(cfg)
    assert counts["total"] == sum(sizes.values()) == accounting.state_param_count(model)
    emb = sum(v for k, v in sizes.items() if k.startswith("embed/") or k.startswith("pos"))
    assert counts["embedding"] == emb
    assert counts["non_embedding"] == counts["total"] - emb
    # active: drop (E - k) / E of every MoE block's expert weights, read from the tree
    experts = sum(v for k, v in sizes.items() if k.endswith("w_up") or k.endswith("w_down"))
    inactive = experts * (cfg.n_experts - cfg.top_k) // cfg.n_experts
    assert counts["active"] == counts["total"] - inactive
    assert counts["active_non_embedding"] == counts["active"] - emb


@pytest.mark.parametrize("cfg", CONFIGS, ids=["dense", "moe-every2", "moe-top1-G3"])
def test_flops_match_traced_matmuls(cfg):
    import dataclasses

    cfg = dataclasses.replace(cfg, moe_impl="ragged")  # ragged computes active experts only
    graphdef, params = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
    batch = 3
    tokens = jnp.zeros((batch, cfg.seq_len), jnp.int32)
    traced = accounting.traced_matmul_flops(lambda p, t: nnx.merge(graphdef, p)(t)[0], params, tokens)
    assert traced == batch * cfg.seq_len * accounting.flops_per_token(cfg, training=False)
    assert accounting.flops_per_token(cfg) == 3 * accounting.flops_per_token(cfg, training=False)


def test_training_flops_is_6ND_plus_attention():
    cfg = CONFIGS[1]
    c = accounting.param_counts(cfg)
    norms = cfg.d_model * (2 * cfg.n_layers + 1)
    n_matmul = c["active_non_embedding"] - norms + cfg.vocab_size * cfg.d_model  # + tied output projection
    d_tokens = 12345
    expected = 6 * n_matmul * d_tokens + 12 * cfg.n_layers * cfg.seq_len * cfg.d_model * d_tokens
    assert accounting.training_flops(cfg, d_tokens) == expected


def test_moe_implementations_agree():
    """dense (all experts, gated) == ragged (sorted groups) == capacity with room for every
    token-slot; a small capacity drops slots and changes the output."""
    import dataclasses

    base = CONFIGS[1]
    x = jax.random.randint(jax.random.key(1), (2, base.seq_len), 0, base.vocab_size)
    outs = {}
    for name, kw in {"dense": dict(moe_impl="dense"), "ragged": dict(moe_impl="ragged"),
                     "capacity": dict(capacity_factor=base.n_experts / base.top_k)}.items():
        model = Transformer(dataclasses.replace(base, **kw), rngs=nnx.Rngs(0))
        outs[name] = np.asarray(model(x)[0])
    # float32 sums in different orders: agree to float32 rounding
    np.testing.assert_allclose(outs["ragged"], outs["dense"], atol=2e-5)
    np.testing.assert_allclose(outs["capacity"], outs["dense"], atol=2e-5)
    dropping = Transformer(dataclasses.replace(base, capacity_factor=0.25), rngs=nnx.Rngs(0))
    assert np.abs(np.asarray(dropping(x)[0]) - outs["dense"]).max() > 1e-3


@pytest.mark.slow  # make test-all; CI's time budget (a model compiled for this check alone)
def test_dtypes_are_explicit():
    cfg = ModelConfig(vocab_size=32, seq_len=8, d_model=16, n_layers=1, n_heads=2, n_experts=4, top_k=2,
                      granularity=2, compute_dtype="bfloat16")
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    assert {str(p.dtype) for p in jax.tree.leaves(nnx.state(model, nnx.Param))} == {"float32"}
    logits, aux = model(jnp.zeros((2, 8), jnp.int32))
    assert logits.dtype == jnp.float32 and aux["lb"].dtype == jnp.float32
    jaxpr = jax.make_jaxpr(lambda t: model.blocks[0].attn.qkv(model.embed(t)))(jnp.zeros((2, 8), jnp.int32))
    assert jaxpr.jaxpr.outvars[0].aval.dtype == jnp.bfloat16


def test_load_balance_loss_is_one_when_uniform():
    """Switch loss E * sum f_e P_e equals 1 for uniform routing: a zero router gives P_e = 1/E
    whatever the top-k picks."""
    cfg = ModelConfig(vocab_size=32, seq_len=8, d_model=16, n_layers=1, n_heads=2, n_experts=4, top_k=2, granularity=2)
    model = Transformer(cfg, rngs=nnx.Rngs(0))
    moe = model.blocks[0].ffn
    moe.router[...] = jnp.zeros_like(moe.router[...])
    _, aux = model(jnp.zeros((2, 8), jnp.int32))
    np.testing.assert_allclose(float(aux["lb"]), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(aux["z"]), np.log(4) ** 2, rtol=1e-6)
