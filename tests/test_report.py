"""`scalelab report`: the page parses, every figure it references is a PNG of the size it states,
and the compute-optimal table equals `scalelab allocate` on an independent fit."""

import json
import struct
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import cli

# Figure sizes in pixels (figsize x 100 dpi, scalelab.report.figures): what the page must reference.
EXPECTED = {"a_loss_vs_compute.png": (800, 500), "b_frontier.png": (1200, 420), "c_residuals.png": (1200, 420),
            "d_influence.png": (800, 450), "e_law_comparison.png": (1200, 420), "f_isoloss.png": (800, 600),
            "isoflop.png": (800, 500)}
VOID = {"meta", "img", "br", "hr", "link", "input"}


class Page(HTMLParser):
    """Collects images and table cells, and checks that every element is closed in order."""

    def __init__(self):
        super().__init__()
        self.stack, self.images, self.cells, self.errors = [], [], {}, []
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "td" and a.get("class") in ("n_opt", "d_opt"):
            self._cell = a["class"]
            self.cells.setdefault(self._cell, []).append("")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell:
            self.cells[self._cell][-1] += data


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def built(simulated_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path = scalelab.report(simulated_runs, "auto", out, n_boot=16, compare_laws=["chinchilla"], starts=64)
    return simulated_runs, out, path


def test_report_figures_exist_with_their_sizes_and_the_page_parses(built):
    _, out, path = built
    # (e) has two panels, the extrapolation scores and the forecast weights (law="auto" chose by the weights)
    assert json.loads((out / "report.json").read_text())["weights"] == {"chinchilla": 1.0}
    assert path == out / "index.html"
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page.errors and page.stack == [], (page.errors, page.stack)
    srcs = {img["src"]: img for img in page.images}
    assert set(EXPECTED) <= set(srcs)  # (a)-(f) and the isoFLOP profiles: the simulated table is an isoFLOP grid
    for name, img in srcs.items():
        w, h = png_size(out / name)
        assert (w, h) == (int(img["width"]), int(img["height"]))
        if name in EXPECTED:
            assert (w, h) == EXPECTED[name]


def test_allocation_table_matches_allocate(built):
    runs, out, path = built
    summary = json.loads((out / "report.json").read_text())
    assert summary["requested_law"] == "auto" and summary["law"] == "chinchilla"
    assert summary["chosen_by"].startswith("the law scalelab.forecast weighs highest") or (
        summary["chosen_by"].startswith("the law with the least extrapolation error") and summary["weights"] is None)
    assert "chosen by law=auto: the law" in path.read_text(encoding="utf-8")
    res = scalelab.fit(runs, "chinchilla", starts=64)  # an independent fit with the same settings
    C = np.array([r["C"] for r in summary["allocation"]])
    ref = scalelab.allocate("chinchilla", res.params, C)
    np.testing.assert_allclose([r["N_opt"] for r in summary["allocation"]], ref["N_opt"], rtol=1e-6)
    np.testing.assert_allclose([r["D_opt"] for r in summary["allocation"]], ref["D_opt"], rtol=1e-6)
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    # the page prints 4 significant digits
    np.testing.assert_allclose([float(v) for v in page.cells["n_opt"]], ref["N_opt"], rtol=6e-4)
    np.testing.assert_allclose([float(v) for v in page.cells["d_opt"]], ref["D_opt"], rtol=6e-4)
    for r in summary["allocation"]:
        assert r["N_opt_lo"] <= r["N_opt_hi"]
    a = summary["isoflop"]["a"]
    assert a == pytest.approx(0.37 / 0.72, abs=0.08)  # Approach 2 on the simulated isoFLOP grid (1% noise)


def test_report_cli_unwritable_out_and_moe_figures(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    rng = np.random.default_rng(0)
    N = np.repeat([2e7, 5e7, 1e8, 2e8], 4)
    E = np.tile([1, 4, 8, 16], 4).astype(float)
    D = np.tile([1e9, 2e9, 4e9, 8e9], 4)
    loss = (1.8 + 300 / N**0.32 * E**-0.08 + 900 / D**0.3) * np.exp(0.003 * rng.standard_normal(N.size))
    pd.DataFrame({"N": N, "D": D, "E": E, "loss": loss}).to_csv(runs, index=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["report", str(runs), "--out", str(blocker / "sub"), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "cannot write the report" in err
    # a report that cannot be made leaves no empty directory behind (a new-user trial, twenty-sixth session): a law of
    # N and E alone on runs without D or C is refused before any work, naming what the report draws; a 3-run table
    # fails in the fit
    no_d = tmp_path / "no_d.csv"
    pd.read_csv(runs).drop(columns="D").to_csv(no_d, index=False)
    assert cli.main(["report", str(no_d), "--law", "clark2022_routed", "--out", str(tmp_path / "r_no_d"),
                     "--bootstrap", "0", "--compare", "none", "--no-influence"]) == 2
    assert "neither C nor both N and D" in capsys.readouterr().err and not (tmp_path / "r_no_d").exists()
    three = tmp_path / "three.csv"
    pd.read_csv(runs).head(3).to_csv(three, index=False)
    assert cli.main(["report", str(three), "--out", str(tmp_path / "r_three"), "--bootstrap", "0"]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "r_three").exists()
    out = tmp_path / "moe"
    assert cli.main(["report", str(runs), "--law", "wang2024_moe", "--out", str(out), "--bootstrap", "0",
                     "--compare", "none", "--no-influence", "--starts", "32"]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert png_size(out / "g_loss_vs_E.png") == (800, 450)
    summary = json.loads((out / "report.json").read_text())
    assert summary["extra_held"] == {"E": 1.0} and len(summary["allocation"]) == 4


def test_fit_plot_option(tmp_path, capsys, simulated_runs, monkeypatch):
    path = tmp_path / "runs.csv"
    simulated_runs.to_csv(path, index=False)
    import scalelab.cli.report as cli_report

    drawn, save = [], cli_report.save_plot
    monkeypatch.setattr(cli_report, "save_plot", lambda fig, p: (drawn.append(fig), save(fig, p))[1])
    assert cli.main(["fit", str(path), "--starts", "64", "--plot", str(tmp_path / "fit.png")]) == 0
    assert png_size(tmp_path / "fit.png") == EXPECTED["a_loss_vs_compute.png"]
    # every run was fitted: none is marked held out (a new-user trial read "held out (largest N)" as a split)
    labels = [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts()]
    assert labels and not any("held out" in t for t in labels), labels
    capsys.readouterr()
    # bayes --plot draws from a posterior kept in a temporary file: not announced as saved (a new-user trial was told
    # of a /tmp path already deleted); with --save it is
    assert cli.main(["bayes", str(path), "--method", "laplace", "--plot", str(tmp_path / "post.png")]) == 0
    assert (tmp_path / "post.png").exists() and "posterior saved" not in capsys.readouterr().err
    assert cli.main(["bayes", str(path), "--method", "laplace", "--save", str(tmp_path / "p.nc"), "--plot",
                     str(tmp_path / "post2.png")]) == 0
    assert f"posterior saved to {tmp_path / 'p.nc'}" in capsys.readouterr().err and (tmp_path / "p.nc").exists()
    # --plot overwrites only a figure it wrote: a user's photo or text under that name is refused before any work and
    # left as it was (fit, bayes and isoflop replaced it; a new-user trial, twenty-sixth session)
    fit_png = (tmp_path / "fit.png").read_bytes()
    assert cli.main(["fit", str(path), "--starts", "64", "--plot", str(tmp_path / "fit.png")]) == 0  # its own: again
    (tmp_path / "photo.png").write_bytes(fit_png.replace(b"scalelab figure", b"a camera     x"))
    (tmp_path / "notes.svg").write_text("precious")
    for argv in (["fit", str(path), "--starts", "64", "--plot", str(tmp_path / "photo.png")],
                 ["bayes", str(path), "--method", "laplace", "--plot", str(tmp_path / "notes.svg")],
                 ["isoflop", str(path), "--law", "none", "--bootstrap", "0", "--plot", str(tmp_path / "notes.svg")]):
        capsys.readouterr()
        assert cli.main(argv) == 2
        assert "exists and is not a figure scalelab wrote; it is left untouched" in capsys.readouterr().err
    assert (tmp_path / "notes.svg").read_text() == "precious"
    assert (tmp_path / "photo.png").read_bytes() == fit_png.replace(b"scalelab figure", b"a camera     x")


def test_importing_the_figure_modules_leaves_pyplot_alone():
    import subprocess
    import sys

    code = ("import sys, scalelab.report, scalelab.plot, scalelab.cli.report; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_forecast_weights_are_read_from_the_forecast_contract(monkeypatch, simulated_runs, tmp_path):
    # scalelab.forecast may not be installed: a stand-in with issue 13's JSON contract must be read, and the
    # comparison figure must draw its weights beside the extrapolation scores.
    import sys
    import types

    from scalelab.report import _forecast_weights, figures

    seen = {}

    def forecast(runs, at, laws="auto", ci=0.9, progress=None):
        seen.update(at=at, laws=laws, ci=ci)
        return {"laws": {"chinchilla": 0.75, "kaplan": 0.25}, "method": "stacking", "ci": ci, "predictions": [],
                "diagnostics": {"rhat_max": None, "warnings": []}, "seconds": 0.0}

    monkeypatch.setitem(sys.modules, "scalelab.forecast", types.SimpleNamespace(forecast=forecast))
    weights, note = _forecast_weights(scalelab.read(simulated_runs), {"N": 1e9, "D": 2e10}, "auto", 0.9)
    assert weights == {"chinchilla": 0.75, "kaplan": 0.25} and note is None
    assert list(seen["at"].columns) == ["N", "D"] and "loss" not in seen["at"] and seen["laws"] == "auto"
    rows = [{"law": "chinchilla", "status": "ok", "extrapolation_are": 0.01},
            {"law": "kaplan", "status": "ok", "extrapolation_are": 0.02}]
    fig = figures.law_comparison(rows, weights, "test")
    assert figures.pixel_size(fig) == (1200, 420)
    figures.save(fig, tmp_path / "e.png")
    assert png_size(tmp_path / "e.png") == (1200, 420)


def test_a_design_that_cannot_pin_the_exponents_is_warned_about_and_gets_no_allocation(tmp_path, capsys):
    """D proportional to N (a Chinchilla-optimal ladder): the fit's exponents trade off, so the report says so; an
    exponent below 0 (fixed here; such designs let fits find one) gives no compute-optimal split, which is skipped
    and said; the table's notes (C derived, rows dropped) are notes, not warnings."""
    N = np.geomspace(2e7, 2e9, 10)
    loss = 1.7 + 400 / N ** 0.34 + 1000 / (20 * N) ** 0.28
    path = tmp_path / "prop.csv"
    pd.DataFrame({"N": N, "D": 20 * N, "loss": loss * np.exp(0.01 * np.sin(3 * np.arange(10)))}).to_csv(path, index=False)
    out = tmp_path / "rep"
    rc = cli.main(["report", str(path), "--out", str(out), "--bootstrap", "0", "--compare", "none",
                   "--no-influence", "--drop-highest-loss", "1", "--fix", "beta=-0.2", "--json"])
    assert rc == 0
    s = json.loads(capsys.readouterr().out)
    assert any("D is a function of N" in w for w in s["warnings"])
    assert "C derived as 6 N D" in s["notes"] and "dropped the 1 highest-loss rows" in s["notes"]
    assert not any("derived" in w or "dropped" in w for w in s["warnings"])
    assert next(p["value"] for p in s["params"] if p["name"] == "beta") == -0.2  # a loss that rises with D
    assert s["allocation"] == [] and any("no compute-optimal allocation" in w for w in s["warnings"])
    assert any("no finite compute-optimal split" in k for k in s["skipped"])


def test_the_reports_fit_is_the_fit_command_gives(tmp_path, simulated_runs):
    """The report's default starts are `scalelab.fit`'s (variable projection for Chinchilla): the same parameters,
    so that a report and a fit of one table never disagree (on an ill-posed table the grid found another optimum)."""
    scalelab.report(simulated_runs, "chinchilla", tmp_path / "rep", n_boot=0, compare_laws=None, influence=False)
    # strict JSON: no bootstrap means no interval, written null (it was a bare NaN token, which parsers refuse)
    s = json.loads((tmp_path / "rep" / "report.json").read_text(),
                   parse_constant=lambda c: pytest.fail(f"report.json holds {c}"))
    assert all(p["lo"] is None and p["hi"] is None for p in s["params"])
    # without influence the headline is still the loss at the largest budget's compute-optimal allocation (a new-user
    # trial found it null); law named, so nothing was chosen
    assert s["headline"]["value"] == pytest.approx(s["allocation"][-1]["loss"], rel=1e-12)
    assert s["headline"]["target"].startswith(f"loss@C={s['allocation'][-1]['C']:.6g}") and s["chosen_by"] is None
    ref = scalelab.fit(simulated_runs, "chinchilla")
    assert s["objective"] == pytest.approx(ref.objective, rel=1e-12)
    for p in s["params"]:
        assert p["value"] == pytest.approx(ref.params[p["name"]], rel=1e-9)


def test_the_real_forecasts_weights_reach_the_report(simulated_runs):
    # `scalelab.forecast` returns a Forecast, not the CLI's JSON object: the report read only a dict, so its
    # comparison never showed the weights (and law="auto" never chose by them) although the forecast had run
    from scalelab.report import _forecast_weights, _largest_run

    table = scalelab.read(simulated_runs)
    weights, note = _forecast_weights(table, _largest_run(table), ["chinchilla", "kaplan"], 0.9)
    ref = scalelab.forecast(table, pd.DataFrame([_largest_run(table)]), laws=["chinchilla", "kaplan"], ci=0.9,
                            progress=False)
    assert note is None and weights == pytest.approx(ref.weights, abs=1e-12)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)


def test_the_report_shows_its_steps_on_stderr_when_asked(simulated_runs, tmp_path, capsys):
    scalelab.report(simulated_runs, "chinchilla", tmp_path / "rep", n_boot=4, compare_laws=None, influence=False,
                    progress=True)
    err = capsys.readouterr().err
    for step in ("fitting chinchilla", "bootstrap, 4 refits", "frontier and isoFLOP", "figures", "done"):
        assert step in err
    assert "4/4" in err  # the steps that applied fill the bar
    scalelab.report(simulated_runs, "chinchilla", tmp_path / "rep2", n_boot=0, compare_laws=None, influence=False,
                    progress=False)
    assert capsys.readouterr().err == ""


def test_the_python_report_leaves_someone_elses_page_alone(built, simulated_runs, tmp_path):
    """`scalelab.report` refuses, as the CLI does, a directory holding an index.html (or a figure of a report's
    names) that no scalelab report wrote, before any work, and leaves it byte for byte; a directory of an earlier
    report (its report.json beside the page) passes the same check. A new-user trial (twenty-ninth session) had the
    Python call replace the page the CLI refused to touch."""
    from scalelab.report.files import check_report_dir

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>my page</p>")
    (site / "g_loss_vs_E.png").write_bytes(b"not ours")
    with pytest.raises(ValueError, match=r"out .*already holds index.html, g_loss_vs_E.png, not from a scalelab"):
        scalelab.report(simulated_runs, "chinchilla", site, n_boot=0, compare_laws=None, influence=False)
    assert (site / "index.html").read_text() == "<p>my page</p>" and sorted(p.name for p in site.iterdir()) == [
        "g_loss_vs_E.png", "index.html"]
    check_report_dir(built[1])  # the module's report, written by scalelab.report: its own files may be replaced


def test_the_report_holds_out_the_column_asked(simulated_runs, tmp_path, capsys):
    """``holdout_by`` / ``--holdout-by``: the report's comparison holds out the largest value of the column asked, as
    `scalelab.compare` does with it, not the largest N (the report's warning about few held-out runs named an option
    the report did not have: a new-user trial, twenty-ninth session); a column the runs lack is refused first."""
    kw = dict(n_boot=0, compare_laws=["chinchilla"], influence=False, starts=32)
    scalelab.report(simulated_runs, "chinchilla", tmp_path / "d", holdout_by="D", **kw)
    summary = json.loads((tmp_path / "d" / "report.json").read_text())
    ref = scalelab.compare(simulated_runs, ["chinchilla"], holdout_by="D", starts=32, progress=False)
    by_n = scalelab.compare(simulated_runs, ["chinchilla"], starts=32, progress=False)
    assert summary["holdout_by"] == "D"
    assert summary["comparison"][0]["extrapolation_are"] == pytest.approx(ref["laws"][0]["extrapolation_are"],
                                                                         rel=1e-9)
    assert ref["laws"][0]["extrapolation_are"] != pytest.approx(by_n["laws"][0]["extrapolation_are"], rel=1e-3)
    runs_csv = tmp_path / "runs.csv"
    simulated_runs.to_csv(runs_csv, index=False)
    capsys.readouterr()
    assert cli.main(["report", str(runs_csv), "--out", str(tmp_path / "x"), "--holdout-by", "lr"]) == 2
    assert "holdout_by='lr' (--holdout-by) is not a column" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
