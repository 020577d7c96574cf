"""Where scalelab finds data: the public run data directory and its own data.

Public run data (``<source>/runs.csv`` etc., each with a PROVENANCE.md) lives
outside the package, in one configurable directory: the ``SCALELAB_DATA_DIR``
environment variable, else ``../shared/data`` next to the repository checkout
(else relative to the working directory). Those files are never copied into
the package: several have no licence.

The package's own data (the proxy-trainer run table used by ``scalelab demo``)
ships in ``scalelab/data/``. (``scalelab.data`` re-exports this module.)
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SCALELAB_DATA_DIR"
_PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"  # src/scalelab/data


def data_dir() -> Path:
    """The public data directory (may not exist; callers check)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[3]  # src/scalelab/runs -> src/scalelab -> src -> repo
    candidate = repo.parent / "shared" / "data"
    if candidate.is_dir():
        return candidate
    return Path("..", "shared", "data").resolve()


def data_path(source: str, filename: str = "runs.csv") -> Path:
    """Path of ``filename`` in public data set ``source``; raises FileNotFoundError with the setting to fix."""
    p = data_dir() / source / filename
    if not p.exists():
        raise FileNotFoundError(f"{p} not found; set {ENV_VAR} to the directory holding '{source}/'")
    return p


def package_data(filename: str) -> Path:
    return _PACKAGE_DATA / filename


def epoch_chinchilla(drop_highest: int = 5):
    """The Epoch digitised Chinchilla runs (245 rows) less the ``drop_highest`` highest-loss rows."""
    from scalelab.runs import read

    return read(data_path("epoch_chinchilla")).drop_highest_loss(drop_highest)
