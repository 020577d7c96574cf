"""The CLI under misuse (issue 18): every usage or data error exits 2 with one ``error:`` line naming the
flag, file, column or lines; every law fits with ``--law NAME`` alone; the inputs each command needs have
options. References: closed forms and NumPy computations written out here."""

import json

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import cli, laws
from scalelab.cli.design import spearman
from scalelab.fit.api import resolve_starts

EPOCH = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"scalelab {scalelab.__version__}"


def test_compare_unknown_law_exits_2_before_fitting(capsys, tmp_path):
    rc, out, err = run(capsys, "compare", str(tmp_path / "never_read.csv"), "--laws", "chinchilla,chinchila")
    assert rc == 2 and err.startswith("error: --laws") and "'chinchila'" in err and out == ""
    # the suggestion `fit --law chinchila` gives (a new-user trial found compare without it)
    assert "did you mean 'chinchilla' for 'chinchila'?" in err


@pytest.mark.parametrize("argv,flag", [
    (["predict", "--law", "chinchilla", "--N", "1e9", "--D", "2e10"], "give exactly one of --params"),
    (["predict", "--params", "{oops", "--N", "1e9", "--D", "2e10"], "--params: not JSON"),
    (["predict", "--reference", "nope", "--N", "1e9", "--D", "2e10"], "--reference 'nope'"),
    (["predict", "--reference", "epoch2024", "--N", "1e9,x", "--D", "2e10"], "--N '1e9,x'"),
    (["allocate", "--reference", "epoch2024", "--C", "abc"], "--C 'abc'"),
    (["predict", "--law", "nolaw", "--reference", "x", "--N", "1"], "unknown law"),
])
def test_usage_errors_exit_2_and_name_the_flag(capsys, argv, flag):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and err.startswith("error: ") and flag in err and out == ""


def test_from_a_file_that_is_not_fit_json(capsys, tmp_path):
    p = tmp_path / "fit.json"
    p.write_text('{"law": "chinchilla"}\n{"params": {}}\n')  # two objects: "Extra data" in json terms
    rc, _, err = run(capsys, "predict", "--from", str(p), "--N", "1e9", "--D", "2e10")
    assert rc == 2 and err.startswith(f"error: --from {p}: not the JSON")
    rc, _, err = run(capsys, "predict", "--from", str(tmp_path / "missing.json"), "--N", "1e9", "--D", "2e10")
    assert rc == 2 and "missing.json: no such file" in err


def test_starts_and_map_errors_name_the_flag(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["fit", "x.csv", "--starts", "foo"])
    assert e.value.code == 2 and "argument --starts: 'foo'" in capsys.readouterr().err
    rc, _, err = run(capsys, "fit", str(tmp_path / "x.csv"), "--map", "loss")
    assert rc == 2 and err.startswith("error: --map 'loss'")


def test_laws_output_has_no_maintainer_notes(capsys):
    rc, out, _ = run(capsys, "laws", "--json")
    assert rc == 0 and "[gap]" not in out and "LAWS.md" not in out
    assert len(json.loads(out)["laws"]) == len(laws.names())


def test_every_law_has_a_default_start_strategy():
    for law in laws.all_laws():
        starts = resolve_starts(law, None)
        assert starts.ndim == 2 and starts.shape[1] == law.n_params and len(starts) >= 9


def test_predict_takes_every_law_input(capsys):
    """--N_active (wang2024_moe_active), --density, --loss: the law evaluated by hand in NumPy."""
    p = {"A": 30.0, "B": 400.0, "sigma": 1.7, "alpha": 0.3, "beta": 0.3, "gamma": 0.1}
    rc, out, err = run(capsys, "predict", "--law", "wang2024_moe_active", "--params", json.dumps(p),
                       "--N_active", "1e8,1e9", "--D", "2e10", "--E", "8", "--json")
    assert rc == 0, err
    N = np.array([1e8, 1e9])
    ref = p["A"] / (N ** p["alpha"] * 8 ** p["gamma"]) + p["B"] / 2e10 ** p["beta"] + p["sigma"]
    np.testing.assert_allclose(json.loads(out)["loss"], ref, rtol=1e-10)
    lr = {"lambda_lr": 0.01, "alpha_lr": 1.5}
    rc, out, err = run(capsys, "predict", "--law", "lr_loss", "--params", json.dumps(lr), "--loss", "2.5", "--json")
    assert rc == 0, err
    np.testing.assert_allclose(json.loads(out)["lr"], [0.01 * 2.5 ** -1.5], rtol=1e-10)  # named by the law's target


def test_allocate_moe_takes_its_held_inputs(capsys):
    """``--E 8`` for wang2024_moe: N_opt against a brute-force NumPy search of L(N, C/6N, E=8)."""
    p = {"A": 30.0, "B": 400.0, "sigma": 1.7, "alpha": 0.3, "beta": 0.32, "gamma": 0.1}
    rc, _, err = run(capsys, "allocate", "--law", "wang2024_moe", "--params", json.dumps(p), "--C", "1e21")
    assert rc == 2 and "--E" in err
    rc, out, err = run(capsys, "allocate", "--law", "wang2024_moe", "--params", json.dumps(p), "--C", "1e21",
                       "--E", "8", "--json")
    assert rc == 0, err
    N = np.geomspace(1e6, 1e13, 200001)
    L = p["A"] / (N ** p["alpha"] * 8 ** p["gamma"]) + p["B"] / (1e21 / (6 * N)) ** p["beta"] + p["sigma"]
    np.testing.assert_allclose(json.loads(out)["N_opt"][0], N[np.argmin(L)], rtol=2e-4)  # grid step 8e-5 in log


def test_chinchilla_allocation_on_arrays():
    """Bootstrap draws x budgets broadcast; each entry equals the scalar closed form."""
    draws = {k: np.array([v, v * 1.05])[:, None] for k, v in EPOCH.items()}
    C = np.array([1e21, 1e23])
    out = scalelab.chinchilla_allocation(draws, C)
    assert out["N_opt"].shape == (2, 2)
    for i in range(2):
        one = scalelab.chinchilla_allocation({k: float(v[i, 0]) for k, v in draws.items()}, C)
        np.testing.assert_allclose(out["N_opt"][i], one["N_opt"], rtol=1e-12)


def test_spearman_without_scipy():
    """Rank correlation with ties, against the definition: Pearson correlation of average ranks."""
    a = np.array([1.0, 2.0, 2.0, 4.0, 5.0])
    b = np.array([5.0, 6.0, 7.0, 8.0, 7.0])
    ra, rb = np.array([1, 2.5, 2.5, 4, 5]), np.array([1, 2, 3.5, 5, 3.5])
    assert spearman(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1], rel=1e-12)
    import inspect

    from scalelab.cli import design as cli_design
    assert "scipy" not in inspect.getsource(cli_design)


@pytest.fixture(scope="module")
def clark_file(tmp_path_factory):
    """Clark-style export: the law's own column names are not ours; one run's loss is corrupted."""
    law = laws.get("clark2022_routed")
    ref = law.reference["clark2022_sbase"]
    N, E = np.meshgrid(np.geomspace(1.5e7, 1.3e9, 6), np.array([1.0, 4, 16, 64, 256]))
    df = scalelab.simulate(law, ref, {"N": N.ravel(), "E": E.ravel()}, sigma=0.002, seed=1)
    df.loc[7, "loss"] *= 1.5  # file line 9
    df = df.rename(columns={"N": "dense_parameter_count", "E": "num_experts", "loss": "loss_validation"})
    p = tmp_path_factory.mktemp("clark") / "clark.csv"
    df.to_csv(p, index=False)
    return p, ref


def test_any_law_fits_with_law_alone_and_map_and_outliers(clark_file, capsys):
    """`fit DATA --law clark2022_routed` (no --starts: the law has no grid), columns named by --map, the
    corrupted run named by its file line in a warning and the parameters recovered despite it."""
    p, ref = clark_file
    rc, out, err = run(capsys, "fit", str(p), "--law", "clark2022_routed",
                       "--map", "N=dense_parameter_count,loss=loss_validation", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert "1 run(s) lie more than 6 MADs from the fit (lines 9;" in err  # the corrupted one, and only it
    assert "their losses +50." in err  # its loss x 1.5: above the fit, by ~50% (a new-user trial read the sign wrong)
    for k in ("a", "b", "d"):  # the identified ones (c multiplies log N log E, E_start/E_max saturate)
        assert res["params"][k] == pytest.approx(ref[k], rel=0.1)


def test_bootstrap_keeps_fix_and_delta():
    """fit_many(delta=, fixed=): every refit holds the fixed value and uses the delta given."""
    from scalelab.fit import variants
    from scalelab.fit.many import fit_many

    d = scalelab.isoflop_design(np.geomspace(1e18, 1e20, 3), 5)
    t = scalelab.read(scalelab.simulate("chinchilla", EPOCH, d, sigma=0.01, seed=2))
    boot = fit_many(t, "chinchilla", variants.bootstrap(t, 6, seed=0), starts=4, fixed={"alpha": 0.3478},
                    delta=0.01)
    np.testing.assert_allclose(boot["alpha"], 0.3478, rtol=1e-12)
    assert np.all(boot["delta"] == 0.01)
    assert boot["beta"].std() > 0  # the free ones still move between resamples
    # `fit --bootstrap --allocate`: N_opt intervals = percentiles of the closed form over the refits
    from scalelab.cli.fit import _allocation_intervals

    C = np.array([1e21, 1e23])
    a, said = _allocation_intervals(laws.get("chinchilla"), boot, C, {}, 0.9)
    ref = scalelab.chinchilla_allocation({k: boot[k].to_numpy()[:, None] for k in EPOCH}, C)["N_opt"]
    np.testing.assert_allclose(a["N_opt"]["lo"], np.percentile(ref, 5, axis=0), rtol=1e-9)
    np.testing.assert_allclose(a["N_opt"]["hi"], np.percentile(ref, 95, axis=0), rtol=1e-9)
    assert said == []
    # refits whose exponent went negative (a design that cannot pin it down) have no optimum: left out, and said
    bad = boot.copy()
    bad.loc[:1, "beta"] = -0.4
    a2, said = _allocation_intervals(laws.get("chinchilla"), bad, C, {}, 0.9)
    np.testing.assert_allclose(a2["N_opt"]["lo"], np.percentile(ref[2:], 5, axis=0), rtol=1e-9)
    assert said == ["2 of 6 bootstrap refits have no finite compute-optimal split (an exponent <= 0); the allocation "
                    "intervals are over the others"]


def test_allocation_without_a_finite_optimum_is_refused(tmp_path, capsys):
    """A fit whose exponent is negative has no compute-optimal split: allocate exits 2 naming the parameters,
    instead of printing NaN (which is not JSON)."""
    fit = {"law": "chinchilla", "params": {**EPOCH, "beta": -0.45}}
    (tmp_path / "fit.json").write_text(json.dumps(fit))
    assert cli.main(["allocate", "--from", str(tmp_path / "fit.json"), "--C", "1e20", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no compute-optimal split for chinchilla" in captured.err and "beta=-0.45" in captured.err
    with pytest.raises(ValueError, match="an exponent <= 0"):
        scalelab.allocate("chinchilla", {**EPOCH, "beta": -0.45}, 1e20)


@pytest.mark.parametrize("bad", [{"beta": -0.1}, {"alpha": -0.1}, {"alpha": -0.3, "beta": -0.3}])
def test_one_negative_exponent_has_no_split_either(capsys, bad):
    """alpha 0.3 with beta -0.1 gave a finite, negative N_opt and D_opt with exit code 0 (a new-user trial, twenty-sixth
    session), and two negative exponents a positive one: the loss then grows with N or D and has no minimum
    under C = 6ND. Refused like a zero exponent, in the CLI, `allocate` and `chinchilla_allocation` alike."""
    params = {**EPOCH, "alpha": 0.3, **bad}
    rc, out, err = run(capsys, "allocate", "--law", "chinchilla", "--params", json.dumps(params), "--C", "1e20", "--json")
    assert rc == 2 and out == "" and "no compute-optimal split for chinchilla" in err
    with pytest.raises(ValueError, match="an exponent <= 0"):
        scalelab.allocate("chinchilla", params, 1e20)
    with pytest.raises(ValueError, match="an exponent <= 0"):
        scalelab.optimal.chinchilla_allocation(params, [1e20, 1e22])
    from scalelab.laws.coupled import skaling_allocation
    assert np.isnan(skaling_allocation({**params, "kappa": 0.7}, 1e20)[0]).all()


def test_hoffmanns_split_of_a_negative_exponent_is_a_real_nan_said_by_no_warning():
    """Chinchilla's closed-form split (Hoffmann Eq. 4), whose NaN for an exponent <= 0 the callers refuse, gives that
    NaN itself: a real one of Python-float parameters (a float's negative base to a fractional power was complex) and
    with no RuntimeWarning (each caller had silenced it, or not, on its own). A valid point: Eq. 4 in NumPy."""
    import warnings

    split = scalelab.laws.get("chinchilla").allocation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for C in (1e21, np.array([1e20, 1e22])):
            out = split({**EPOCH, "alpha": -0.1, "beta": 0.33}, C)
            assert all(np.isrealobj(v) and np.isnan(v).all() for v in out.values() if v is not out["loss"])
    p = {k: float(v) for k, v in EPOCH.items()}
    G = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    np.testing.assert_allclose(split(p, 6e21)["N_opt"], G * 1e21 ** (p["beta"] / (p["alpha"] + p["beta"])), rtol=1e-12)


def test_greedy_suggestion_spends_the_budget():
    """A pool where the smallest runs remove slightly more Laplace variance than large ones (the Epoch
    case): the greedy pick still spends most of the budget (each pick >= half its share of what is left:
    >= 1 - (1/2)(7/8)(5/6)(3/4)... ~ 73% for k = 4), and the picks are distinct candidates."""
    from scalelab.design.select import _greedy

    cost = np.geomspace(1.0, 100.0, 60)
    Jc = np.c_[1.0 / (1.0 + 1e-3 * cost), 0.1 * np.log(cost)]
    budget, k = 100.0, 4
    pick = _greedy(np.eye(2), np.array([1.0, 0.0]), 0.1, Jc, cost, k, budget)
    assert len(pick) == k == len(set(pick))
    assert 0.7 * budget <= cost[pick].sum() <= budget * (1 + 1e-12)


def test_proxy_plans_descriptions_are_whole(capsys):
    """Each plan's description is its docstring's first paragraph, whole: brackets balanced, ends a sentence."""
    from scalelab.proxy.plans import PLANS

    rc, out, _ = run(capsys, "proxy", "plans", "--json")
    assert rc == 0
    rows = {r["name"]: r["description"] for r in json.loads(out)}
    assert set(rows) == set(PLANS)
    for name, text in rows.items():
        para = " ".join(ln.strip() for ln in PLANS[name].__doc__.strip().split("\n\n")[0].splitlines())
        assert text == para and text.count("(") == text.count(")") and text.count("{") == text.count("}")
        assert text.endswith((".", ")")), (name, text)


def test_compare_says_when_the_holdout_is_one_run():
    from scalelab.fit.compare import compare

    d = pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8, 8e8, 1.6e9], "D": [2e9, 4e9, 8e9, 1.6e10, 2e10, 3.2e10],
                      "loss": [3.4, 3.2, 3.0, 2.8, 2.75, 2.6]})
    out = compare(d, [])  # no law: only the split is decided
    assert out["holdout"]["n"] == 1 and "rests on 1 held-out run" in out["holdout"]["warning"]
    out = compare(d.assign(N=[1e8, 2e8, 4e8, 1.6e9, 1.6e9, 1.6e9]), [])
    assert out["holdout"]["n"] == 3 and "warning" not in out["holdout"]


def test_allocate_on_a_degenerate_posterior_is_an_error(capsys, monkeypatch):
    """A posterior whose allocation is NaN (draws with no optimum) exits 2 naming it, instead of nan [nan, nan]."""
    from scalelab import bayes

    class Degenerate:
        law = "chinchilla"

        def allocate(self, C, ci=0.95, extra=None):
            C = np.atleast_1d(C)
            nan = {s: np.full(C.shape, np.nan) for s in ("median", "mean", "lo", "hi")}
            return {"C": C, "N_opt": nan, "D_opt": nan, "tokens_per_param": nan, "loss": nan}

    monkeypatch.setattr(bayes, "load", lambda path: Degenerate())
    rc, out, err = run(capsys, "allocate", "--posterior", "post.nc", "--C", "1e21")
    assert rc == 2 and out == "" and err.startswith("error: --posterior post.nc: no finite") and "nan" not in err


@pytest.mark.parametrize("argv,flag", [
    (["fit", "x.csv", "--drop-highest-loss", "-3"], "argument --drop-highest-loss: must be at least 0"),
    (["fit", "x.csv", "--ci", "2"], "argument --ci: must lie strictly between 0 and 1"),
    (["fit", "x.csv", "--bootstrap", "-1"], "argument --bootstrap: must be at least 0"),
    (["fit", "x.csv", "--max-iter", "0"], "argument --max-iter: must be at least 1"),
    (["proxy", "sweep", "--plan", "micro", "--out", "x.csv", "--limit", "-1"], "argument --limit: must be at least 0"),
    (["suggest", "x.csv", "--budget", "1e21", "--k", "0"], "argument --k: must be at least 1"),
])
def test_bad_numbers_are_usage_errors(capsys, argv, flag):
    """Values that were silently used (--limit -1 trained a run; --drop-highest-loss -3 dropped none)."""
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_sep_must_be_one_character(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("N\tD\tloss\n1e8\t2e9\t3.1\n2e8\t4e9\t3.0\n")
    with pytest.raises(scalelab.RunTableError, match="--sep 'ab': give one character"):
        scalelab.read(p, sep="ab")
    np.testing.assert_array_equal(scalelab.read(p, sep="tab").column("loss"), [3.1, 3.0])


def test_small_curve_table_fits_bootstraps_and_compares_on_final_losses(capsys, tmp_path):
    """A 12-run table given as checkpoints (run_id, step: two rows per run) and a final-loss law: fit,
    its bootstrap and compare read each run's last checkpoint (they failed: residuals and resample weights
    over 24 rows against a fit of 12), and the bootstrap's rare resamples that keep too few distinct runs for
    5 parameters are drawn again instead of failing. Reference: the same calls on the final rows alone."""
    N = np.repeat(np.geomspace(5e7, 2e9, 4), 3)
    D = N * np.tile([10.0, 30.0, 90.0], 4)
    final = scalelab.simulate("chinchilla", EPOCH, {"N": N, "D": D}, sigma=0.004, seed=3).assign(
        run_id=[f"r{i}" for i in range(12)], step=2000)
    early = final.assign(step=1000, D=final["D"] / 2, loss=final["loss"] * 1.04, C=final["C"] / 2)
    curves = pd.concat([early, final]).sort_values(["run_id", "step"], kind="stable")
    final = final.sort_values("run_id", kind="stable")  # the curve table's runs in its order (r0, r1, r10, ...)
    paths = {}
    for name, df in (("curves", curves), ("final", final)):
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    got = {}
    for name, path in paths.items():
        rc, out, err = run(capsys, "fit", str(path), "--law", "chinchilla", "--bootstrap", "200", "--json")
        assert rc == 0, err
        got[name] = json.loads(out)
        if name == "curves":
            assert "last checkpoint" in err
    assert got["curves"]["params"] == pytest.approx(got["final"]["params"], rel=1e-9)
    for k, (lo, hi) in got["final"]["intervals"].items():  # the same resamples of the same runs
        assert got["curves"]["intervals"][k] == pytest.approx([lo, hi], rel=1e-5), k
    a = scalelab.compare.compare(paths["curves"], ["chinchilla"])
    b = scalelab.compare.compare(paths["final"], ["chinchilla"])
    assert a["n_runs"] == b["n_runs"] == 12
    assert a["laws"][0]["extrapolation_are"] == pytest.approx(b["laws"][0]["extrapolation_are"], rel=1e-9)


def test_progress_lines_count_runs_not_checkpoint_rows(capsys, tmp_path):
    """A 12-run table given as checkpoints (two rows per run): the commands' progress lines said "on 24 runs" and
    left out the note that each run's last checkpoint is read; a curve law's line counts runs and checkpoints."""
    from scalelab.cli.options import law_rows

    N = np.repeat(np.geomspace(5e7, 2e9, 4), 3)
    final = scalelab.simulate("chinchilla", EPOCH, {"N": N, "D": N * np.tile([10.0, 30.0, 90.0], 4)}, sigma=0.004,
                              seed=3).assign(run_id=[f"r{i}" for i in range(12)], step=2000, lr=1e-3)
    early = final.assign(step=1000, D=final["D"] / 2, loss=final["loss"] * 1.04, C=final["C"] / 2)
    path = tmp_path / "curves.csv"
    pd.concat([early, final]).to_csv(path, index=False)
    table = scalelab.read(path)
    rows, words = law_rows(table, "chinchilla")
    assert (len(rows), words) == (12, "12 runs") and "last checkpoint" in capsys.readouterr().err
    assert law_rows(table, "multipower")[1] == "12 runs (24 checkpoints)"
    assert law_rows(table, "auto")[1] == "12 runs"
    rc, out, err = run(capsys, "bayes", str(path), "--method", "laplace", "--law", "chinchilla", "--json")
    assert rc == 0, err
    assert "on 12 runs" in err and "24 runs" not in err and "last checkpoint" in err
    assert json.loads(out)["n_runs"] == 12


def test_predict_derives_D_from_N_and_C(capsys):
    base = ["predict", "--law", "chinchilla", "--reference", "epoch2024", "--json"]
    assert cli.main([*base, "--N", "7e10,1e11", "--C", "5.88e23,1.2e24"]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out)
    assert "D derived as C / (6 N)" in out.err and "C" not in got["inputs"]
    assert cli.main([*base, "--N", "7e10,1e11", "--D", f"{5.88e23 / 4.2e11!r},{1.2e24 / 6e11!r}"]) == 0
    want = json.loads(capsys.readouterr().out)
    np.testing.assert_allclose(got["inputs"]["D"], [1.4e12, 2e12], rtol=1e-12)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-12)
    assert cli.main([*base, "--N", "7e10,1e11", "--C", "1e23,2e23,3e23"]) == 2
    assert "same number of values to --N and --C" in capsys.readouterr().err


def test_compare_warns_on_stderr_with_json_too(tmp_path, capsys):
    """One held-out run (one largest size): compare's warning is on stderr whether or not --json is given, so that
    --strict exits alike."""
    N = np.r_[np.repeat(np.geomspace(1e8, 8e8, 4), 3), 3e9]
    D = N * np.r_[np.tile([10.0, 20.0, 40.0], 4), 20.0]
    t = scalelab.simulate("chinchilla", EPOCH, {"N": N, "D": D}, sigma=0.003, seed=1)
    t.to_csv(tmp_path / "t.csv", index=False)
    for extra in ([], ["--json"]):
        assert cli.main(["compare", str(tmp_path / "t.csv"), "--laws", "chinchilla", "--starts", "16", "--strict",
                         *extra]) == 2
        assert "rests on 1 held-out run" in capsys.readouterr().err


def test_fit_many_refuses_a_bad_delta_and_names_unconverged_variants(tmp_path, capsys):
    t = scalelab.simulate("chinchilla", EPOCH, {"N": np.repeat([1e8, 3e8, 1e9], 3),
                                                "D": np.repeat([1e8, 3e8, 1e9], 3) * np.tile([10, 20, 40], 3)},
                          sigma=0.003, seed=1)
    t.to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"name": ["neg"], "law": ["chinchilla"], "delta": [-1.0]}).to_csv(tmp_path / "v.csv", index=False)
    assert cli.main(["fit-many", str(tmp_path / "t.csv"), "--variants", str(tmp_path / "v.csv"),
                     "--out", str(tmp_path / "o.csv")]) == 2
    assert "variant row 0: delta -1.0: the Huber threshold must be a number > 0" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    # a filter that keeps too few runs, or a parameter the law lacks, is named by the file's row and the variant's
    # name (a new-user trial got "variants [4] keep 0 runs", the index among one law's rows, and no name)
    for bad, said in ((["chinchilla", "N > 1e20", ""],
                       "variant row 2 ('bad'): its filter 'N > 1e20' keeps 0 runs, too few for the 5 free parameters"),
                      (["chinchilla", "", "gamma=0.3"], "variant row 2 ('bad'): cannot fix ['gamma']: law 'chinchilla'")):
        pd.DataFrame({"name": ["all", "kap", "bad"], "law": ["chinchilla", "kaplan", bad[0]],
                      "filter": ["", "", bad[1]], "fixed": ["", "", bad[2]]}).to_csv(tmp_path / "v.csv", index=False)
        assert cli.main(["fit-many", str(tmp_path / "t.csv"), "--variants", str(tmp_path / "v.csv"),
                         "--out", str(tmp_path / "o.csv")]) == 2
        assert said in capsys.readouterr().err
        assert not (tmp_path / "o.csv").exists()
    with pytest.raises(ValueError, match="every Huber delta must be a number > 0"):
        scalelab.variants.deltas(t, [1e-3, 0.0])



def test_fit_many_names_the_variants_that_did_not_converge(tmp_path, capsys, monkeypatch):
    from scalelab.fit import many

    t = scalelab.simulate("chinchilla", EPOCH, {"N": np.repeat([1e8, 3e8, 1e9], 3),
                                                "D": np.repeat([1e8, 3e8, 1e9], 3) * np.tile([10, 20, 40], 3)},
                          sigma=0.003, seed=1)
    t.to_csv(tmp_path / "t.csv", index=False)
    pd.DataFrame({"name": ["short", "fine"], "law": ["chinchilla"] * 2}).to_csv(tmp_path / "v.csv", index=False)
    real = many.fit_many

    def first_fails(*a, **k):  # the first variant's solver stops short (as a too-small --max-iter would make it)
        out = real(*a, **k)
        out.loc[out["variant"] == "short", "converged"] = False
        return out

    monkeypatch.setattr(many, "fit_many", first_fails)
    assert cli.main(["fit-many", str(tmp_path / "t.csv"), "--variants", str(tmp_path / "v.csv"),
                     "--out", str(tmp_path / "o.csv"), "--starts", "4"]) == 0
    assert "warning: 1 of 2 variants did not converge (short)" in capsys.readouterr().err
    assert list(pd.read_csv(tmp_path / "o.csv")["converged"]) == [False, True]


def test_a_parameter_fixed_twice_is_refused(tmp_path, capsys):
    scalelab.simulate("chinchilla", EPOCH, {"N": [1e8, 3e8, 1e9] * 3, "D": [2e9] * 3 + [6e9] * 3 + [2e10] * 3},
                      sigma=0.003, seed=1).to_csv(tmp_path / "t.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "t.csv"), "--fix", "alpha=0.34", "--fix", "alpha=0.5"]) == 2
    assert "--fix alpha given twice (0.34 and 0.5)" in capsys.readouterr().err


def test_influence_and_suggest_say_what_the_design_cannot_pin_down(tmp_path, capsys):
    """One model size: the N exponent is not identified, so an influence computed from the fit is as unsure as it is:
    the fit's design warning is printed and carried in --json. A suggestion ranks runs by the target's Laplace
    variance, which one N leaves singular: it is refused, naming the warning, whatever the noise scale. (It answered
    on this table while the scale was 1.4826 MAD and was refused at the fit's own scale, 3x larger: the inverse of a
    singular information is round-off, and its sign decided; thirtieth session.)"""
    D = np.geomspace(1e9, 1e11, 8)
    t = scalelab.simulate("chinchilla", EPOCH, {"N": np.full(8, 3e8), "D": D}, sigma=0.003, seed=1)
    t.to_csv(tmp_path / "oneN.csv", index=False)
    assert cli.main(["influence", str(tmp_path / "oneN.csv"), "--target", "loss@C=1e20", "--starts", "16",
                     "--json"]) == 0
    out = capsys.readouterr()
    got = json.loads(out.out)["warnings"]
    assert any(w.startswith("every run shares one N (3e+08)") for w in got)
    assert all(f"warning: {w}" in out.err for w in got)
    for sigma in (0.003, 0.001, 0.01):  # the same design at three noise levels: refused at each
        t = scalelab.simulate("chinchilla", EPOCH, {"N": np.full(8, 3e8), "D": D}, sigma=sigma, seed=1)
        t.to_csv(tmp_path / "oneN.csv", index=False)
        assert cli.main(["suggest", str(tmp_path / "oneN.csv"), "--target", "loss@C=1e20", "--budget", "1e19",
                         "--k", "1", "--starts", "16", "--json"]) == 2
        err = capsys.readouterr().err
        assert "Laplace covariance is singular" in err and "every run shares one N (3e+08)" in err


def test_suggest_warns_when_its_runs_lie_far_outside_the_ladder(tmp_path, capsys):
    """A budget far below the ladder's runs buys runs decades smaller than any in the table: their forecast
    variance is an extrapolation of the law, and said."""
    N = np.repeat(np.geomspace(5e7, 2e9, 4), 3)
    t = scalelab.simulate("chinchilla", EPOCH, {"N": N, "D": N * np.tile([10.0, 20.0, 40.0], 4)}, sigma=0.003, seed=1)
    t.to_csv(tmp_path / "t.csv", index=False)
    assert cli.main(["suggest", str(tmp_path / "t.csv"), "--target", "loss@C=1e22", "--budget", "1e10", "--k", "2",
                     "--starts", "16", "--json"]) == 0
    out = capsys.readouterr()
    runs = json.loads(out.out)["runs"]
    n_min = N.min()
    far = sum(r["N"] < n_min / 10 for r in runs)
    assert far > 0 and f"{far} of {len(runs)} suggested runs lie more than a decade outside" in out.err


def test_one_bootstrap_refit_is_refused(tmp_path, capsys):
    assert cli.main(["fit", str(tmp_path / "never_read.csv"), "--bootstrap", "1"]) == 2
    assert "--bootstrap 1: one refit gives no interval" in capsys.readouterr().err


def test_what_a_readme_trial_found_in_report_compare_and_bayes(capsys, tmp_path, simulated_runs):
    # report --law auto --compare none compared every law anyway and drew the comparison: refused before writing
    out = tmp_path / "rep"
    with pytest.raises(ValueError, match="law='auto' chooses the law by comparing"):
        scalelab.report(simulated_runs, "auto", out, compare_laws=None, n_boot=0, influence=False, progress=False)
    assert not out.exists()
    # compare: a law the runs below the split cannot determine is skipped; the others are still compared (the whole
    # command failed on it)
    runs = scalelab.simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
                             scalelab.isoflop_design(budgets=np.geomspace(1e18, 1e20, 6), n_per_budget=5), sigma=0.005,
                             seed=3)
    res = scalelab.compare(runs, ["chinchilla", "bnsl"], holdout_by="C")
    by = {r["law"]: r for r in res["laws"]}
    assert by["chinchilla"]["status"] == "ok" and by["chinchilla"]["extrapolation_are"] < 0.01
    assert by["bnsl"]["status"] == "skipped" and "cannot determine" in by["bnsl"]["reason"]
    # bayes: which adjustment adjust=auto chose is a note, so --strict passes a posterior that passed its checks; with
    # --plot the table's notes are said once and the saved posterior is not warned about again as a Python warning
    data = tmp_path / "runs.csv"
    simulated_runs.drop(columns=[c for c in ("C",) if c in simulated_runs.columns]).to_csv(data, index=False)
    rc, stdout, err = run(capsys, "bayes", str(data), "--method", "laplace", "--samples", "200", "--chains", "2",
                          "--strict", "--plot", str(tmp_path / "post.png"), "--json")
    assert rc == 0 and "note: adjust=auto: no sandwich adjustment" in err and "warning: adjust=auto" not in err
    assert err.count("note: C derived") == 1 and "UserWarning" not in err  # it was said twice
    assert "adjust=auto: no sandwich adjustment" in " ".join(json.loads(stdout)["warnings"])


def test_params_sources_a_new_user_tried(capsys, tmp_path):
    """A parameter the law does not have is refused (gamma was ignored), a report's report.json serves --from (its
    parameters are rows), and clearing a cache that is off says so (it said "from None"). A new-user trial, twenty-sixth
    session. Reference: the closed form C = 6 N D and Hoffmann's allocation at the same parameters."""
    rc, out, err = run(capsys, "allocate", "--law", "chinchilla", "--params", json.dumps({**EPOCH, "gamma": 1}),
                       "--C", "1e20")
    assert rc == 2 and out == ""
    assert ("--params: 'gamma' is not a parameter of law 'chinchilla', whose parameters are ['E', 'A', 'B', 'alpha', "
            "'beta']") in err
    report_json = tmp_path / "report.json"
    report_json.write_text(json.dumps({"law": "chinchilla", "params": [
        {"name": k, "value": v, "lo": None, "hi": None, "fixed": False} for k, v in EPOCH.items()]}))
    rc, out, err = run(capsys, "allocate", "--from", str(report_json), "--C", "1e22", "--json")
    assert rc == 0, err
    got = json.loads(out)
    ref = scalelab.optimal.chinchilla_allocation(EPOCH, 1e22)
    np.testing.assert_allclose(got["N_opt"], ref["N_opt"], rtol=1e-9)
    np.testing.assert_allclose(6 * np.asarray(got["N_opt"]) * np.asarray(got["D_opt"]), 1e22, rtol=1e-9)


def test_clearing_a_cache_that_is_off(capsys, monkeypatch):
    monkeypatch.setenv("SCALELAB_CACHE_DIR", "off")
    rc, out, _ = run(capsys, "cache", "clear")
    assert rc == 0 and "nothing to clear" in out and "None" not in out


def test_an_allocation_where_no_run_could_be_is_warned_and_a_fits_warnings_travel_with_it(capsys, tmp_path):
    """Found by a new-user trial: a fit of runs that all share one D warns that D's terms are not identified, and then
    `allocate --from` it printed D_opt = 0.03 tokens and N_opt = 5.7e22 with exit 0 and no word, `predict` no word
    either, and `allocate` at C = 1e40 gave N_opt = 1.6e19 (beyond any model) silently. The fit's warnings now travel
    with its JSON to every use, and a split outside any run's range is warned about (`--strict` fails it)."""
    from scalelab.optimal import allocation_warnings

    # Hoffmann et al.'s closed form at Epoch's parameters, in NumPy: plausible at 1e24, a 1e19-parameter model at 1e40
    a, b = EPOCH["alpha"], EPOCH["beta"]
    G = (a * EPOCH["A"] / (b * EPOCH["B"])) ** (1 / (a + b))
    C = np.array([1e24, 1e40])
    N_opt, D_opt = G * (C / 6) ** (b / (a + b)), (C / 6) ** (a / (a + b)) / G
    assert 1e10 < N_opt[0] < 1e11 and N_opt[1] > 1e16
    assert allocation_warnings(C[0], N_opt[0], D_opt[0]) == []
    (w,) = allocation_warnings(C, N_opt, D_opt)
    assert "C = 1e+40 FLOPs" in w and f"N_opt = {N_opt[1]:.3g}" in w
    assert allocation_warnings(1e22, 5.7e22, 0.03)  # fewer than one token
    N = np.geomspace(1e8, 3e9, 12)
    runs = scalelab.simulate("chinchilla", EPOCH, {"N": N, "D": np.full(12, 2e10)}, sigma=0.003, seed=0)
    data, fit_json = tmp_path / "one_d.csv", tmp_path / "fit.json"
    runs.to_csv(data, index=False)
    rc, out, err = run(capsys, "fit", str(data), "--json")
    assert rc == 0 and "every run shares one D" in err
    fit_json.write_text(out)
    said = json.loads(out)["warnings"]
    rc, out, err = run(capsys, "predict", "--from", str(fit_json), "--N", "7e10", "--D", "1.4e12", "--json")
    assert rc == 0 and json.loads(out)["warnings"] == [f"the fit in {fit_json} warned: {w}" for w in said]
    assert all(f"warning: the fit in {fit_json} warned: {w}" in err for w in said)
    rc, out, err = run(capsys, "allocate", "--from", str(fit_json), "--C", "1e22,1e24", "--json")
    got = json.loads(out)
    off = [i for i in range(2) if not (1e3 <= got["D_opt"][i] <= 1e16 and 1e3 <= got["N_opt"][i] <= 1e16
                                       and 1e-3 <= got["tokens_per_param"][i] <= 1e5)]
    assert rc == 0 and off == [0, 1]  # D_opt below one token: B and beta at their bounds
    assert len([w for w in got["warnings"] if "lies where no language-model run does" in w]) == 2
    assert any("every run shares one D" in w for w in got["warnings"])
    assert run(capsys, "allocate", "--from", str(fit_json), "--C", "1e22", "--strict")[0] == 2
    rc, out, err = run(capsys, "fit", str(data), "--bootstrap", "100", "--allocate", "1e22", "--json")
    boot = json.loads(out)["allocation"]
    median_off = not (1e3 <= boot["D_opt"]["median"][0] <= 1e16 and 1e3 <= boot["N_opt"]["median"][0] <= 1e16)
    assert rc == 0 and median_off and any("lies where no language-model run does" in w
                                          for w in json.loads(out)["warnings"])
