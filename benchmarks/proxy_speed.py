"""Proxy-trainer speed: training tokens per second and model-FLOPs utilisation (MFU).

Times the real training step of ``scalelab.proxy.train`` (forward, backward, AdamW update)
for a dense and an MoE transformer on random tokens, after a compile step that is timed
separately. MFU = ``flops_per_token * tokens_per_s / peak``, with ``flops_per_token`` from
``scalelab.proxy.accounting`` (6 x active matmul params + attention 12 L T d, PaLM's
convention; MoE counts active experts only, so routing overheads lower MFU) and ``peak`` the
device's dense bf16 peak (H100/H200 SXM: 989 TFLOP/s) or ``--peak-tflops``. Targets on an H100:
35 % dense, 20 % MoE.

    python benchmarks/proxy_speed.py --device-size gpu      # ~110M dense, ~200M-total MoE, bf16
    python benchmarks/proxy_speed.py --device-size cpu      # small, float32; runs anywhere

Prints one line per model and, with ``--json``, one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import types
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
try:
    import scalelab  # noqa: F401  (the proxy code is explicit about dtypes; importing scalelab changes no JAX setting)
except ImportError:  # a bare accelerator host without the core's dependencies: load only proxy/
    pkg = types.ModuleType("scalelab")
    pkg.__path__ = [str(SRC / "scalelab")]
    sys.modules["scalelab"] = pkg

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

from scalelab.proxy.accounting import flops_per_token, param_counts  # noqa: E402
from scalelab.proxy.config import ModelConfig, TrainConfig  # noqa: E402
from scalelab.proxy.model import moe_impl_for  # noqa: E402
from scalelab.proxy.train import _compiled, _opt_key, init_model  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "L40S": 362.0, "GH200": 989.0}


def peak_tflops(device, override: float | None) -> float | None:
    if override:
        return override
    kind = getattr(device, "device_kind", "")
    for name, peak in PEAK_BF16_TFLOPS.items():
        if name in kind:
            return peak
    return None


def sizes(device_size: str, moe_impl: str, attn_impl: str | None) -> tuple[list[ModelConfig], int]:
    """(model configs, batch size in sequences) for a device size."""
    if device_size == "gpu":
        common = dict(vocab_size=32768, seq_len=1024, n_heads=12, compute_dtype="bfloat16", attn_impl=attn_impl)
        dense = ModelConfig(d_model=768, n_layers=12, **common)
        moe = ModelConfig(d_model=768, n_layers=8, n_experts=8, top_k=2, granularity=2, moe_impl=moe_impl, **common)
        return [dense, moe], 32
    common = dict(vocab_size=256, seq_len=128, n_heads=4, compute_dtype="float32")
    return [ModelConfig(d_model=128, n_layers=2, **common),
            ModelConfig(d_model=128, n_layers=2, n_experts=8, top_k=2, granularity=2, moe_impl=moe_impl, **common)], 8


def bench(cfg: ModelConfig, batch_size: int, steps: int, peak: float | None) -> dict:
    train = TrainConfig(batch_size=batch_size)
    _, tx, step, _, _ = _compiled(cfg, _opt_key(train))
    _, params = nnx.split(init_model(cfg, 0))
    opt_state = tx.init(params)
    rng = np.random.default_rng(0)
    batches = [jnp.asarray(rng.integers(0, cfg.vocab_size, (batch_size, cfg.seq_len + 1), dtype=np.int32)) for _ in range(2)]
    lr = np.float32(1e-4)
    t0 = time.perf_counter()
    params, opt_state, loss = step(params, opt_state, batches[0], lr)
    loss.block_until_ready()
    compile_s = time.perf_counter() - t0
    params, opt_state, loss = step(params, opt_state, batches[1], lr)  # one more warm-up
    loss.block_until_ready()
    t0 = time.perf_counter()
    for i in range(steps):
        params, opt_state, loss = step(params, opt_state, batches[i % 2], lr)
    loss.block_until_ready()
    elapsed = time.perf_counter() - t0
    tokens_per_s = steps * batch_size * cfg.seq_len / elapsed
    fpt = flops_per_token(cfg)
    counts = param_counts(cfg)
    return {
        "family": cfg.family,
        "moe_impl": moe_impl_for(cfg) if cfg.is_moe else None,
        "attn_impl": cfg.attn_impl or "xla",
        "N_total": counts["total"],
        "N_active": counts["active"],
        "d_model": cfg.d_model,
        "n_layers": cfg.n_layers,
        "seq_len": cfg.seq_len,
        "batch_size": batch_size,
        "dtype": cfg.compute_dtype,
        "compile_s": round(compile_s, 2),
        "step_ms": round(1e3 * elapsed / steps, 2),
        "tokens_per_s": round(tokens_per_s),
        "model_tflops_per_s": round(fpt * tokens_per_s / 1e12, 3),
        "mfu": round(fpt * tokens_per_s / (peak * 1e12), 4) if peak else None,
        "loss": float(loss),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device-size", choices=["cpu", "gpu"], default=None,
                   help="model sizes: 'gpu' (~110M dense, ~200M-total MoE, bf16) or 'cpu' (small, float32); default by backend")
    p.add_argument("--family", choices=["dense", "moe", "both"], default="both")
    p.add_argument("--moe-impl", choices=["auto", "dense", "ragged"], default="auto", help="dropless MoE implementation")
    p.add_argument("--capacity-factor", type=float, default=None, help="MoE with fixed expert capacity (drops overflow)")
    p.add_argument("--attn-impl", choices=["xla", "cudnn"], default=None, help="default: cudnn on GPU, xla elsewhere")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per step")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20 GPU, 5 CPU)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for MFU (default: known bf16 peaks)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    device = jax.devices()[0]
    on_gpu = device.platform == "gpu"
    size = args.device_size or ("gpu" if on_gpu else "cpu")
    attn = args.attn_impl or ("cudnn" if on_gpu else "xla")
    models, batch = sizes(size, args.moe_impl, None if attn == "xla" else attn)
    if args.capacity_factor:
        models = [dataclasses.replace(m, capacity_factor=args.capacity_factor) if m.is_moe else m for m in models]
    if args.family != "both":
        models = [m for m in models if m.family == args.family]
    batch = args.batch_size or batch
    steps = args.steps or (20 if size == "gpu" else 5)
    peak = peak_tflops(device, args.peak_tflops)
    results = []
    print(f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}, peak bf16 "
          f"{peak or 'unknown'} TFLOP/s", file=sys.stderr)
    for cfg in models:
        try:
            r = bench(cfg, batch, steps, peak)
        except Exception as exc:  # e.g. cudnn attention unavailable: retry with XLA attention
            if cfg.attn_impl is None:
                raise
            print(f"{cfg.family}: {cfg.attn_impl} attention failed ({type(exc).__name__}: {exc}); retrying with xla",
                  file=sys.stderr)
            r = bench(dataclasses.replace(cfg, attn_impl=None), batch, steps, peak)
        results.append(r)
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        print(f"{r['family']:>5} N_total={r['N_total'] / 1e6:.1f}M N_active={r['N_active'] / 1e6:.1f}M "
              f"{r['dtype']} moe={r['moe_impl']} attn={r['attn_impl']} B={batch}x{r['seq_len']}: "
              f"{r['tokens_per_s']:,} tok/s, {r['model_tflops_per_s']} TFLOP/s, MFU {mfu}, "
              f"compile {r['compile_s']} s, step {r['step_ms']} ms", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"device": device.device_kind, "platform": device.platform, "jax": jax.__version__,
                          "peak_tflops": peak, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
