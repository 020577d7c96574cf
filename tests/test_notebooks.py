"""Execute the notebooks in notebooks/ (nbclient); each must run top to bottom without error."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _needs_epoch(path: Path) -> bool:
    return "epoch" in path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if _needs_epoch(path):
        from scalelab.data import data_dir

        if not (data_dir() / "epoch_chinchilla" / "runs.csv").exists():
            pytest.skip(f"Epoch data not found under {data_dir()} (set SCALELAB_DATA_DIR)")
    monkeypatch.setenv("SCALELAB_NB_FAST", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
