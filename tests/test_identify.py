"""Identifiability warnings (`scalelab.fit.identify`), each on a table built to trigger it, and `--strict`."""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.cli import main as cli_main
from scalelab.fit.identify import parameter_warnings, table_warnings


def table(N, D):
    N, D = np.asarray(N, float), np.asarray(D, float)
    loss = 1.8 + 400 / N ** 0.34 + 400 / D ** 0.28
    return scalelab.read(pd.DataFrame({"N": N, "D": D, "loss": loss}))


def test_a_good_design_gets_no_warning():
    N = np.repeat(np.geomspace(1e7, 1e10, 4), 3)
    D = N * np.tile([5.0, 20.0, 100.0], 4)
    assert table_warnings(table(N, D)) == []


def test_D_proportional_to_N():
    N = np.geomspace(1e7, 1e10, 8)
    (w,) = table_warnings(table(N, 20 * N))
    assert "D is a function of N" in w and "log D = 1 log N" in w


def test_one_shared_D_and_one_shared_N():
    N = np.geomspace(1e7, 1e10, 6)
    assert any("every run shares one D" in w for w in table_warnings(table(N, np.full(6, 1e10))))
    D = np.geomspace(1e9, 1e12, 6)
    assert any("every run shares one N" in w for w in table_warnings(table(np.full(6, 1e8), D)))


def test_less_than_a_decade():
    N = np.repeat(np.geomspace(1e8, 5e8, 3), 3)  # 0.7 decades
    D = N * np.tile([5.0, 20.0, 100.0], 3)  # D spans 2.4 decades
    ws = table_warnings(table(N, D))
    assert len(ws) == 1 and "only 0.70 decades in N" in ws[0]


def test_parameter_at_the_edge_of_its_range():
    law = scalelab.laws.get("chinchilla")
    inside = {"log_E": 0.5, "log_A": 6.0, "log_B": 7.0, "alpha": 0.3, "beta": 0.3}
    assert parameter_warnings(law, inside) == []
    # log_E range is (-1, 1): a fit that sends E to exp(-40) ran off the edge
    (w,) = parameter_warnings(law, {**inside, "log_E": -40.0})
    assert "'E'" in w and "edge of its range" in w


def test_forecast_warns_beyond_a_decade():
    N = np.repeat(np.geomspace(3e7, 1e9, 6), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 6)
    runs = scalelab.simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
                             {"N": N, "D": D}, sigma=0.003, seed=2)
    fc = scalelab.forecast(runs, {"N": [3e9, 3e10], "D": [6e10, 6e11]}, laws="chinchilla")
    far = [w for w in fc.warnings if "decades beyond the largest run" in w]
    assert len(far) == 1 and far[0].startswith("targets [1]")  # only the second target is > 1 decade out


def test_fit_reports_warnings_and_strict_makes_them_fatal(tmp_path, capsys):
    N = np.geomspace(1e7, 1e10, 8)
    path = tmp_path / "prop.csv"
    table(N, 20 * N).df.to_csv(path, index=False)
    assert cli_main(["fit", str(path), "--starts", "16", "--json"]) == 0
    captured = capsys.readouterr()
    assert "D is a function of N" in captured.err
    assert any("D is a function of N" in w for w in __import__("json").loads(captured.out)["warnings"])
    assert cli_main(["fit", str(path), "--starts", "16", "--json", "--strict"]) == 2
    assert "error: --strict" in capsys.readouterr().err
