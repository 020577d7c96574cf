import numpy as np
import pytest

import scalelab
from scalelab.data import data_dir


def _need(source: str, filename: str = "runs.csv"):
    path = data_dir() / source / filename
    if not path.exists():
        pytest.skip(f"public data {path} not found (set SCALELAB_DATA_DIR to the directory holding '{source}/')")
    return path


@pytest.fixture(scope="session")
def epoch_path():
    return _need("epoch_chinchilla")


@pytest.fixture(scope="session")
def epoch_runs(epoch_path):
    """Epoch's 240-run convention: the 5 highest-loss rows dropped."""
    return scalelab.read(epoch_path).drop_highest_loss(5)


@pytest.fixture(scope="session")
def epoch_fit(epoch_runs):
    return scalelab.fit(epoch_runs, "chinchilla", starts="grid")


TRUTH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


@pytest.fixture(scope="session")
def simulated_runs():
    """Chinchilla runs on 9 isoFLOP budgets x 9 sizes, 1% log-normal noise."""
    design = scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e22, 9), n_per_budget=9)
    return scalelab.simulate("chinchilla", TRUTH, design, sigma=0.01, seed=1)
