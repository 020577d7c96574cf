"""`scalelab demo` runs end to end on the project's own data."""

import json

import pytest

from scalelab import cli
from scalelab.demo import TRUTH


def test_demo_json(capsys):
    assert cli.main(["demo", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    fit = obj["simulated"]["fit"]
    assert fit["converged"]
    assert fit["params"]["alpha"] == pytest.approx(TRUTH["alpha"], abs=0.03)
    assert fit["params"]["E"] == pytest.approx(TRUTH["E"], rel=0.02)
    proxy = obj["proxy"]
    assert proxy["runs"] >= 12 and proxy["wang2024_moe"]["converged"]
    # Wang et al.'s claim (i) on our own proxy runs: MoE beats dense at ~equal compute in most pairs.
    wins = [p["loss_moe"] < p["loss_dense"] for p in proxy["pairs"]]
    assert sum(wins) > len(wins) / 2
