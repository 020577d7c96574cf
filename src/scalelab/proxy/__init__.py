"""Proxy training runs: small flax nnx dense / MoE transformers trained on synthetic or local
text tokens, with exact parameter and FLOP accounting, written as RunTable rows by resumable,
shardable sweeps.

    from scalelab import proxy
    specs = proxy.get_plan("tiny")
    table = proxy.sweep(specs, "runs.csv")        # resumable; --shard i/n from the CLI
    df = proxy.read_runs("runs*.csv")
"""

from .accounting import flops_per_token, param_counts, training_flops
from .config import DataConfig, ModelConfig, RunSpec, TrainConfig
from .model import Transformer
from .plans import PLANS, dense_vs_moe, density_grid, get_plan, isoflop_ladder, lr_batch_grid, moe_of, otr_grid
from .train import init_model, lr_schedule, train_run

__all__ = [
    "ModelConfig", "TrainConfig", "DataConfig", "RunSpec",
    "Transformer", "init_model",
    "param_counts", "flops_per_token", "training_flops",
    "train_run", "lr_schedule",
    "PLANS", "get_plan", "isoflop_ladder", "dense_vs_moe", "lr_batch_grid", "otr_grid", "density_grid", "moe_of",
    "sweep", "read_runs",
]


def __getattr__(name):
    # sweep/read_runs need pandas; import them on first use so the model, accounting and
    # training (e.g. benchmarks on a bare accelerator host) work without it.
    if name in ("sweep", "read_runs"):
        import importlib

        module = importlib.import_module(".sweep", __name__)  # binds the module to .sweep ...
        globals().update(sweep=module.sweep, read_runs=module.read_runs)  # ... rebind the function
        return globals()[name]
    raise AttributeError(f"module 'scalelab.proxy' has no attribute {name!r}")
