"""`scalelab demo` runs end to end on the project's own data."""

import json
import math

import pytest

from scalelab import cli
from scalelab.cli.demo import TRUTH


def test_demo_json(capsys):
    assert cli.main(["demo", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    fit = obj["simulated"]["fit"]
    assert fit["converged"]
    assert fit["params"]["alpha"] == pytest.approx(TRUTH["alpha"], abs=0.03)
    assert fit["params"]["E"] == pytest.approx(TRUTH["E"], rel=0.02)
    proxy = obj["proxy"]
    assert proxy["runs"] >= 30 and proxy["wang2024_moe"]["converged"]
    # Wang et al.'s claim (i) on our own proxy runs: MoE beats dense at ~equal compute in most pairs.
    wins = [p["loss_moe"] < p["loss_dense"] for p in proxy["pairs"]]
    assert sum(wins) > len(wins) / 2
    # Forecasts carry credible intervals (Laplace approximation) that are finite and contain the point
    # forecast: the Gaussian is centred on the fit, so the fit's prediction must lie inside its 95%
    # interval unless the approximation is broken.
    assert proxy["intervals"]["method"] == "laplace" and proxy["intervals"]["ci"] == 0.95
    assert {f["where"] for f in proxy["forecast"]} == {"largest run", "4x N and D"}
    assert {(f["law"], f["family"]) for f in proxy["forecast"]} == {
        ("chinchilla", "dense"), ("wang2024_moe", "dense"), ("wang2024_moe", "moe")}
    for f in proxy["forecast"]:
        vals = [f[k] for k in ("loss", "median", "lo", "hi", "new_lo", "new_hi")]
        assert all(math.isfinite(v) for v in vals), f
        assert f["lo"] <= f["loss"] <= f["hi"], f
        assert f["new_lo"] < f["new_hi"] and f["lo"] < f["hi"], f


def test_demo_leaves_a_users_report_directory_alone(tmp_path, monkeypatch, capsys):
    """Found by a new-user trial: ``scalelab demo`` replaced ``./scalelab-demo-report/index.html`` that was not its
    own. It is refused before any work, as ``report --out`` refuses such a directory; ``report --out ''`` too."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scalelab-demo-report").mkdir()
    (tmp_path / "scalelab-demo-report" / "index.html").write_text("my notes")
    assert cli.main(["demo"]) == 2
    assert "already holds index.html, not from a scalelab report" in capsys.readouterr().err
    assert (tmp_path / "scalelab-demo-report" / "index.html").read_text() == "my notes"
    assert cli.main(["report", "runs.csv", "--out", ""]) == 2
    assert "--out '': give the directory" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scalelab-demo-report"]


def test_demo_help_says_where_the_report_goes(capsys):
    """`demo` writes ./scalelab-demo-report/ into the current directory; its help did not say so (a new-user trial)."""
    from scalelab.cli.demo import REPORT_DIR

    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    assert f"./{REPORT_DIR}/" in " ".join(capsys.readouterr().out.split())
