"""``scalelab.data``: where scalelab finds data (kept importable; the code lives in `scalelab.runs.data`)."""

from scalelab.runs.data import ENV_VAR, data_dir, data_path, epoch_chinchilla, package_data

__all__ = ["ENV_VAR", "data_dir", "data_path", "package_data", "epoch_chinchilla"]
