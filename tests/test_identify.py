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


def test_forecast_warns_of_a_weighted_law_whose_parameter_ran_to_an_edge():
    """The issue's edge-of-range warning reached fit and the posteriors but not forecast: a Chinchilla forecast from runs
    whose irreducible loss is 0 (E runs off to exp(-5.8)) said nothing. It now says what fit says, with the law's weight
    (fit's own warning of these runs is the same sentence: log_E = -5.79)."""
    N = np.repeat(np.geomspace(5e7, 2e9, 6), 3)
    runs = scalelab.simulate("chinchilla", {"E": 0.0, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
                             {"N": N, "D": N * np.tile([5.0, 20.0, 80.0], 6)}, sigma=0.003, seed=0)
    fc = scalelab.forecast(runs, {"N": [4e9], "D": [8e10]}, laws="chinchilla")
    (said,) = [w for w in fc.warnings if "edge of its range" in w]
    E = fc.laws["chinchilla"]["params"]["E"]  # the truth's floor is 0: its fit runs below log_E's range (-1..1)
    assert E < np.exp(-3.0) and said == (f"parameter 'E' of 'chinchilla' is at the edge of its range (log_E = "
                                         f"{np.log(E):.3g}, more than 1 width beyond its start range -1..1): the data do "
                                         f"not determine it (weight 1.00 "
                                         f"in the forecast)")
    # the same law on runs with a real floor (E = 1.8): nothing at an edge, nothing said
    floor = runs.assign(loss=runs["loss"] + 1.8)
    assert not any("edge of its range" in w for w in scalelab.forecast(floor, {"N": [4e9], "D": [8e10]},
                                                                       laws="chinchilla").warnings)


def test_weighted_parameter_warnings_name_only_the_laws_that_carry_a_forecast():
    """What the final-loss and curve forecasts both report: a weighted law's parameter at an edge, with its weight;
    a law of weight 0 (or below 0.005, shown as 0.00) says nothing."""
    from scalelab.fit.identify import weighted_parameter_warnings

    mp = scalelab.laws.get("multipower")
    params = dict(mp.reference["luo2025_100M"])
    fits = {"multipower": {"law": mp, "params": {**params, "C": 1e-12}},  # log_C = -27.6: far below its range
            "chinchilla": {"law": scalelab.laws.get("chinchilla"),
                           "params": {"E": 1e-20, "A": 400.0, "B": 400.0, "alpha": 0.3, "beta": 0.3}}}
    (w,) = weighted_parameter_warnings(fits, {"multipower": 0.75, "chinchilla": 0.0})
    assert w.startswith("parameter 'C' of 'multipower' is at the edge of its range") and w.endswith("(weight 0.75 in the forecast)")
    assert len(weighted_parameter_warnings(fits, {"multipower": 0.75, "chinchilla": 0.25})) == 2
    # pseudo-BMA never gives exactly 0: a weight that prints as 0.00 (below CARRIES, 0.005) carries nothing either
    assert len(weighted_parameter_warnings(fits, {"multipower": 0.997, "chinchilla": 0.003})) == 1
    assert len(weighted_parameter_warnings(fits, {"multipower": 0.995, "chinchilla": 0.005})) == 2
    assert weighted_parameter_warnings({"multipower": {"law": mp, "params": params}}, {"multipower": 1.0}) == []


def test_forecast_warns_beyond_a_decade():
    N = np.repeat(np.geomspace(3e7, 1e9, 6), 3)
    D = N * np.tile([5.0, 20.0, 80.0], 6)
    runs = scalelab.simulate("chinchilla", {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
                             {"N": N, "D": D}, sigma=0.003, seed=2)
    fc = scalelab.forecast(runs, {"N": [3e9, 3e10], "D": [6e10, 6e11]}, laws="chinchilla")
    far = [w for w in fc.warnings if "decades outside the runs" in w]
    assert len(far) == 1 and far[0].startswith("targets [1] (1 of 2)")  # only the second target is > 1 decade out


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


def test_fit_many_reports_the_design_warnings_and_strict_counts_them(tmp_path, capsys):
    """fit-many fitted a D-proportional-to-N ladder without the warning that `fit` gives for the same runs."""
    N = np.geomspace(1e7, 1e10, 8)
    path, spec, out = tmp_path / "prop.csv", tmp_path / "variants.csv", tmp_path / "out.csv"
    table(N, 20 * N).df.to_csv(path, index=False)
    pd.DataFrame({"law": ["gadre2024_overtrain", "gadre2024_overtrain"], "delta": [1e-3, 1e-2]}).to_csv(spec, index=False)
    assert cli_main(["fit-many", str(path), "--variants", str(spec), "--out", str(out), "--starts", "4"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if "D is a function of N" in line]
    assert len(said) == 1 and said[0].startswith("warning: ")  # once, however many variants
    out.unlink()
    assert cli_main(["fit-many", str(path), "--variants", str(spec), "--out", str(out), "--starts", "4",
                     "--strict"]) == 2


def two_families(nan_lr_in="rpj"):
    """Two families' ladders in one table (c4 irreducible loss 1.8, rpj 2.1), an ``lr`` column empty for one."""
    rows = []
    for fam, E in (("c4", 1.8), ("rpj", 2.1)):
        for N in np.geomspace(2e7, 1e9, 5):
            for r in (10.0, 20.0, 40.0):
                rows.append({"family": fam, "N": N, "D": r * N, "loss": E + 400 / N ** 0.34 + 1000 / (r * N) ** 0.28,
                             "lr": np.nan if fam == nan_lr_in else 3e-4})
    return pd.DataFrame(rows)


def test_several_families_fitted_as_one_ladder_are_named():
    from scalelab.fit.identify import family_warnings

    t = scalelab.read(two_families())
    (w,) = family_warnings(t, ("N", "D"))
    assert "2 families" in w and "c4: 15" in w and "rpj: 15" in w and "--family" in w
    fit = scalelab.fit(t, "chinchilla", starts=16)
    assert any("2 families" in x for x in fit.warnings)
    # one family, or an input that tells the families apart (experts: dense E = 1, MoE E = 8), says nothing
    assert family_warnings(scalelab.read(two_families().query("family == 'c4'")), ("N", "D")) == []
    moe = two_families().assign(E=lambda d: np.where(d["family"] == "c4", 1.0, 8.0))
    assert family_warnings(scalelab.read(moe), ("N", "D", "E")) == []
    assert family_warnings(scalelab.read(moe), ("N", "D")) != []  # E in the table, but the law does not read it


def test_families_of_a_concatenated_frame_are_told_apart_by_position():
    """A frame made by ``pd.concat`` of two families repeats its index labels (0..14 twice). The families are read by
    position, so ``E`` (dense 1, MoE 8) still tells them apart and nothing is said; by label each family had held
    the other's rows too."""
    from scalelab.fit.identify import family_warnings

    moe = two_families().assign(E=lambda d: np.where(d["family"] == "c4", 1.0, 8.0))
    stacked = pd.concat([moe.query("family == 'c4'").reset_index(drop=True),
                         moe.query("family == 'rpj'").reset_index(drop=True)])
    t = scalelab.read(stacked)
    assert not t.df.index.is_unique  # the labels repeat, as pd.concat leaves them
    assert family_warnings(t, ("N", "D", "E")) == []
    (w,) = family_warnings(t, ("N", "D"))  # the law reads no E: still named, with each family's own count
    assert "c4: 15, rpj: 15 runs" in w


def test_two_ladders_told_apart_by_an_unread_column_are_named():
    """Found by a new-user trial: a ``dataset`` column (c4, rpj) splitting runs alike in N and D into two ladders was
    only listed among the unread columns, where a ``family`` column is warned about. Seeds of one run (a ``seed``
    column, 0.5% scatter) and names of single runs are no second ladder, and say nothing."""
    from scalelab.fit.identify import ladder_warnings

    df = two_families().rename(columns={"family": "dataset"})
    (w,) = ladder_warnings(scalelab.read(df), ("N", "D"))
    assert w.startswith("column 'dataset' (c4: 15, rpj: 15 runs), which no law reads, tells apart runs alike in N, D")
    assert "--map family=dataset --family VALUE" in w
    gap = np.median(np.log(df.query("dataset == 'rpj'")["loss"].to_numpy() / df.query("dataset == 'c4'")["loss"].to_numpy()))
    assert f"a median {100 * np.expm1(gap):.0f}%" in w
    assert any(x == w for x in scalelab.fit(scalelab.read(df), "chinchilla", starts=16).warnings)
    assert ladder_warnings(scalelab.read(df.query("dataset == 'c4'")), ("N", "D")) == []
    two = df.assign(mix=np.where(df["dataset"] == "c4", "a", "b"))  # a second column telling the same ladders apart
    (w,) = ladder_warnings(scalelab.read(two), ("N", "D"))  # one warning naming both
    assert w.startswith("columns no law reads tell apart runs alike in N, D whose losses differ: 'dataset' (c4: 15")
    assert "'mix' (a: 15, b: 15 runs; a median" in w
    c4 = df.query("dataset == 'c4'").drop(columns="dataset")
    seeds = pd.concat([c4.assign(seed=s, loss=c4["loss"] * np.exp(0.005 * np.random.default_rng(s).standard_normal(15)))
                       for s in range(3)], ignore_index=True)
    assert ladder_warnings(scalelab.read(seeds), ("N", "D")) == []
    named = seeds.assign(label=[f"run{i}" for i in range(45)], seed=0)  # every run its own label: no grouping
    assert ladder_warnings(scalelab.read(named.drop(columns="seed")), ("N", "D")) == []


def test_a_model_column_naming_each_size_is_no_family():
    """A Hitchhiker-style export: a ``model`` column (read as ``family``) names each model size's checkpoints. That
    is one ladder, so no "several families" warning, from the function, a fit or the forecast CLI's JSON."""
    from scalelab.fit.identify import family_warnings

    df = two_families().query("family == 'c4'").drop(columns="family")
    df.insert(0, "model", df["N"].map(lambda n: f"{n / 1e6:.0f}m"))
    t = scalelab.read(df)
    assert "family" in t.columns and t.df["family"].nunique() == 5
    assert family_warnings(t, ("N", "D")) == []
    assert not any("families" in w for w in scalelab.fit(t, "chinchilla", starts=16).warnings)
    # sizes named to three digits (Epoch's 'chin-89.8M' holds N 89,818,277 and 89,818,341): still one size each
    df["N"] = df["N"] * (1 + 1e-6 * (np.arange(len(df)) % 3))
    assert family_warnings(scalelab.read(df), ("N", "D")) == []
    # two sizes under one name make it a grouping again, and it is named
    df.loc[df["N"] > 0.99 * df["N"].max(), "model"] = df["model"].iloc[0]
    (w,) = family_warnings(scalelab.read(df), ("N", "D"))
    assert "4 families" in w


def test_read_keeps_one_family_validated_on_its_own_rows(tmp_path):
    path = tmp_path / "two.csv"
    two_families(nan_lr_in="rpj").to_csv(path, index=False)
    assert "lr" in scalelab.read(path).invalid  # empty for the rpj runs
    c4 = scalelab.read(path, family="c4")
    assert len(c4) == 15 and set(c4.df["family"]) == {"c4"} and "lr" not in c4.invalid
    np.testing.assert_array_equal(c4.column("lr"), np.full(15, 3e-4))
    assert c4.notes[0] == "kept the 15 runs of family c4 (15 others left out)"
    assert len(scalelab.read(path, family=["c4", "rpj"])) == 30
    # the rpj rows are file lines 17-31: an error about them still names the file's lines
    bad = two_families().assign(loss=lambda d: np.where(np.arange(30) == 20, -1.0, d["loss"]))
    bad.to_csv(path, index=False)
    with pytest.raises(scalelab.runs.RunTableError, match="lines 22 "):
        scalelab.read(path, family="rpj").column("loss")
    with pytest.raises(scalelab.runs.RunTableError, match="no runs of family \\['gpt'\\].*holds: c4, rpj"):
        scalelab.read(path, family="gpt")
    with pytest.raises(scalelab.runs.RunTableError, match="no 'family' column"):
        scalelab.read(two_families().drop(columns="family"), family="c4")


def test_cli_family_option_fits_the_family_alone(tmp_path, capsys):
    import json

    path, alone = tmp_path / "two.csv", tmp_path / "c4.csv"
    two_families().to_csv(path, index=False)
    two_families().query("family == 'c4'").to_csv(alone, index=False)
    assert cli_main(["fit", str(path), "--family", "c4", "--starts", "16", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert cli_main(["fit", str(alone), "--starts", "16", "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert got["params"] == want["params"] and not any("families" in w for w in got["warnings"])
    assert cli_main(["fit", str(path), "--starts", "16", "--json"]) == 0
    assert any("2 families" in w for w in json.loads(capsys.readouterr().out)["warnings"])
    assert cli_main(["fit", str(path), "--family", ","]) == 2
    assert "--family: name at least one family" in capsys.readouterr().err


def test_fit_json_holds_every_warning_strict_counts(tmp_path, capsys):
    N = np.geomspace(1e7, 1e10, 8)
    t = table(N, 20 * N).df.copy()
    t.loc[3, "loss"] *= 1.5  # one run far off the law: named as an outlier
    path = tmp_path / "prop.csv"
    t.to_csv(path, index=False)
    assert cli_main(["fit", str(path), "--starts", "16", "--max-iter", "2", "--json"]) == 0
    captured = capsys.readouterr()
    on_stderr = [line[len("warning: "):] for line in captured.err.splitlines() if line.startswith("warning: ")]
    in_json = __import__("json").loads(captured.out)["warnings"]
    assert len(on_stderr) == 3 and sorted(in_json) == sorted(on_stderr)  # not converged, D ~ N, the outlier
    assert any("did not meet the convergence test" in w for w in in_json)
    assert any("more than 6 MADs" in w for w in in_json)


def test_a_law_of_active_parameters_on_the_runs_total_count_is_warned_about():
    """Clark's runs exported with total and dense (active) counts: N is taken from the total, and clark2022_routed,
    whose N is the active count, was fitted to it with a note that read "the law's N convention: N_total" (a new-user
    trial, twenty-sixth session: E_max 2099 where the active count gives 237). Its fit now warns; the law of total
    counts (wang2024_moe) and the active count mapped to N do not; the note names exactly the laws of active counts."""
    from scalelab import laws
    from scalelab.fit.identify import active_count_warnings

    rng = np.random.default_rng(0)
    active = np.repeat(np.geomspace(2e7, 1.3e9, 6), 4)
    E = np.tile([1.0, 8.0, 64.0, 512.0], 6)
    loss = 2.0 + 4e3 / active ** 0.35 * E ** -0.1 * np.exp(0.003 * rng.standard_normal(active.size))
    df = pd.DataFrame({"total_parameter_count": active * (1 + 0.4 * (E - 1)), "dense_parameter_count": active,
                       "num_experts": E, "loss": loss})
    runs = scalelab.read(df)
    assert runs.sources["N"] == ("N_total",)
    (note,) = [n for n in runs.notes if n.startswith("N taken from N_total")]
    assert "the law's N convention" not in note
    named = sorted(law.name for law in map(laws.get, laws.names()) if law.active_n)
    assert named == ["clark2022_routed", "hossain2025_sparse"] and all(n in note for n in named)
    (w,) = active_count_warnings(runs, laws.get("clark2022_routed"))
    # the advice names the table's own column (--map N=N_active was refused: no such column in the file)
    assert "18 of the 24 runs are active in fewer" in w and "--map N=dense_parameter_count fits" in w
    assert "--map N=dense_parameter_count for those" in note
    assert active_count_warnings(runs, laws.get("wang2024_moe")) == []
    assert active_count_warnings(scalelab.read(df.rename(columns={"dense_parameter_count": "N"})),
                                 laws.get("clark2022_routed")) == []
    fit = scalelab.fit(runs, "clark2022_routed", starts=32)
    assert w in fit.warnings
    # the one list of design warnings says it for the laws fitted (fit, compare, forecast, the posteriors, suggest)
    from scalelab.fit.identify import design_warnings

    clark = laws.get("clark2022_routed")
    assert w in design_warnings(runs, clark.inputs, (clark,)) and w not in design_warnings(runs, clark.inputs)
