"""Tables as papers, READMEs and run trackers lay them out (a tenth export trial of `scalelab forecast`): numbers with a
footnote mark or an uncertainty, a size label beside the exact count, markdown tables, title and footnote lines, a
summary row, runs of no known size or data, step-0 evaluations, a status column marking crashed runs, and a
Trainer's training ``loss`` beside its ``eval_loss``.

References: the values written into the tables (a Chinchilla ladder in counts) and the same runs written plainly.
"""

import json

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.cli import main as cli_main
from scalelab.runs import RunTableError
from scalelab.runs.columns import numbers


def ladder(n_sizes=6, tpp=(10.0, 20.0, 40.0)):
    N = np.repeat(np.geomspace(5e7, 1e9, n_sizes), len(tpp))
    D = N * np.tile(tpp, n_sizes)
    return pd.DataFrame({"N": N, "D": D, "loss": 1.7 + 400 / N ** 0.34 + 410 / D ** 0.28})


def write(path, text):
    path.write_text(text)
    return path


def test_a_number_with_a_footnote_mark_or_an_uncertainty_is_read_as_the_number():
    """'3.5348*', '4.60 ± 0.06', '4.60 (0.06)', '0.05B†', '~1.4B' and, for a loss, '2.31 nats' read as their number; a
    word stays unread and a number written with other text is still no number."""
    cells = pd.Series(["3.5348*", "4.60 ± 0.06", "4.60 +/- 0.06", "4.60 (0.06)", "2.31 nats", "3.1†", "n/a",
                       "2x batch"])
    np.testing.assert_array_equal(numbers(cells, "loss").to_numpy(),
                                  [3.5348, 4.60, 4.60, 4.60, 2.31, 3.1, np.nan, np.nan])
    np.testing.assert_array_equal(numbers(pd.Series(["0.05B†", "~1.4B", "125M*"]), "N").to_numpy(),
                                  [5e7, 1.4e9, 1.25e8])


def test_a_table_with_marked_losses_reads_as_the_plain_one_and_says_so(tmp_path):
    """Two losses of 18 written with a footnote mark had refused the whole table, with an error saying that the
    forecast leaves such rows out, which it did not."""
    df = ladder()
    text = df.astype(object)
    text.loc[[3, 11], "loss"] = [f"{df.loss[3]:.12g}*", f"{df.loss[11]:.12g}†"]
    table = scalelab.read(write(tmp_path / "runs.csv", text.to_csv(index=False)))
    np.testing.assert_allclose(table.column("loss"), df["loss"].to_numpy(), rtol=1e-11)
    (said,) = [n for n in table.notes if "footnote mark" in n]
    assert "2 values" in said and "lines 5, 13" in said
    # a number written with other words is refused, and not said to be left out
    text.loc[3, "loss"] = "3.5 (2x batch)"
    with pytest.raises(RunTableError, match="write each as a plain number") as err:
        scalelab.read(write(tmp_path / "bad.csv", text.to_csv(index=False))).column("loss")
    assert "leaves them out" not in str(err.value)


def test_a_size_label_beside_the_exact_count_yields_to_it(tmp_path):
    """``model_size`` (54M, 110M, ...: nominal labels) beside ``params`` (exact counts), the Pythia or OLMo table's
    shape, had been refused as two N's; the count is read and the labels are left untouched, with a note."""
    df = ladder()
    labels = df["N"].map(lambda n: f"{1.07 * n / 1e6:.0f}M")
    raw = pd.DataFrame({"model_size": labels, "params": df["N"], "tokens": df["D"], "loss": df["loss"]})
    table = scalelab.read(raw)
    np.testing.assert_array_equal(table.column("N"), df["N"].to_numpy())
    assert any(n.startswith("column 'model_size' left untouched: it names the sizes as labels") for n in table.notes)
    swapped = scalelab.read(raw[["params", "model_size", "tokens", "loss"]])  # the count first: the same reading
    np.testing.assert_array_equal(swapped.column("N"), df["N"].to_numpy())
    # two columns of plain counts still clash: which is meant is unknown
    with pytest.raises(RunTableError, match="both mean 'N'"):
        scalelab.read(raw.assign(model_size=1.07 * df["N"])).column("N")


def test_paper_and_readme_layouts_are_read(tmp_path):
    """A markdown table (its |---:| alignment row), a title line above the header and a footnote line under the
    table are no runs: left out with a note, the runs read as the plain file's."""
    df = ladder()
    plain = scalelab.read(df)
    body = "\n".join(f"| {n:.0f} | {d:.0f} | {v:.12g} |" for n, d, v in df.to_numpy())
    md = scalelab.read(write(tmp_path / "md.csv", f"| N | D | loss |\n|---:|:---:|---|\n{body}\n"))
    np.testing.assert_allclose(md.column("loss"), plain.column("loss"), rtol=1e-11)
    assert any("lines 2 are a markdown table's alignment row: left out" in n for n in md.notes)
    csv = df.to_csv(index=False)
    titled = scalelab.read(write(tmp_path / "t.csv", "Table 3: final losses of the ladder\n" + csv
                                 + "* runs marked with a star used a 2x batch,,\n"))
    np.testing.assert_allclose(titled.column("N"), plain.column("N"))
    assert len(titled) == len(df)
    assert any("hold one cell of text and no other (a title or a footnote)" in n for n in titled.notes)
    # a header shorter than its rows (an unnamed row-number column) is no title: its first row stays a run
    numbered = "N,D,loss\n" + "\n".join(f"{i},{n:.0f},{d:.0f},{v:.12g}" for i, (n, d, v) in enumerate(df.to_numpy()))
    assert len(scalelab.read(write(tmp_path / "n.csv", numbered + "\n"))) == len(df)


def test_runs_of_no_known_size_or_data_are_left_out_of_a_forecast(tmp_path):
    """Two empty N cells, a summary row ('mean' as N, no D) and step-0 evaluations (D = 0) had refused the whole
    table; a forecast leaves those runs out, names them, and answers as from the runs alone. An input empty in most
    runs is still refused."""
    df = ladder()
    at = {"N": [3e9], "D": [6e10]}
    clean = scalelab.forecast(df, at, laws="chinchilla")
    raw = pd.concat([df, pd.DataFrame({"N": [np.nan, np.nan, 2e8], "D": [1e9, 2e9, 0.0], "loss": [3.0, 2.9, 10.8]})],
                    ignore_index=True).astype({"N": object})
    raw.loc[len(raw)] = ["mean", np.nan, 2.5]
    fc = scalelab.forecast(raw, at, laws="chinchilla")
    np.testing.assert_allclose([fc.loss[0], fc.lo[0], fc.hi[0]], [clean.loss[0], clean.lo[0], clean.hi[0]], rtol=1e-9)
    said = " ".join(fc.warnings)
    assert ("no 'N' in rows 18, 19, 21 (empty, infinite or a word: e.g. 'mean'); no 'D' in rows 21; no 'D' in rows 20 "
            "(0 tokens: an evaluation before training): 4 of 22 runs left out" in said)
    mostly = df.astype({"N": object})
    mostly.loc[: len(df) // 2 + 1, "N"] = np.nan
    with pytest.raises(RunTableError, match="column 'N' has NaN"):
        scalelab.forecast(mostly, at, laws="chinchilla")


def test_a_status_column_marks_the_runs_a_forecast_leaves_out(tmp_path, capsys):
    """A W&B export's ``State`` (crashed, running) or a ``finished`` flag: the runs it marks as not finished are left
    out of the forecast, named in a warning; their last logged loss (here 10-20% above the law) had widened the
    interval several-fold with no word. The CLI's JSON answers as the finished runs alone do."""
    from scalelab.runs.status import unfinished

    df = ladder()
    state = np.array(["finished"] * len(df), dtype=object)
    state[[4, 9, 13]] = ["crashed", "running", "killed"]
    bad, col, what = unfinished(df.assign(State=state))
    assert col == "State" and bad.sum() == 3 and what.startswith("crashed: 1")
    assert not unfinished(df.assign(State="running"))[0].any()  # no finished run named: nothing said
    flag = unfinished(df.assign(finished=[i % 5 != 0 for i in range(len(df))]))
    assert flag[1] == "finished" and flag[0].sum() == 4
    runs = df.assign(State=state, loss=np.where(state == "finished", df["loss"], df["loss"] * 1.15))
    write(tmp_path / "runs.csv", runs.to_csv(index=False))
    write(tmp_path / "only.csv", df[state == "finished"].to_csv(index=False))
    write(tmp_path / "at.csv", "N,D\n3e9,6e10\n")
    answers = []
    for name in ("runs.csv", "only.csv"):
        assert cli_main(["forecast", str(tmp_path / name), "--at", str(tmp_path / "at.csv"), "--law", "chinchilla",
                         "--ci", "0.9", "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    (a,), (b,) = (x["predictions"] for x in answers)
    np.testing.assert_allclose([a["loss"], a["lo"], a["hi"]], [b["loss"], b["lo"], b["hi"]], rtol=1e-9)
    (w,) = [w for w in answers[0]["diagnostics"]["warnings"] if "not finished" in w]
    assert "column 'State' marks lines 6, 11, 15" in w and "3 of 18 runs left out" in w


def test_a_training_loss_read_beside_an_evaluation_loss_is_named():
    """A Hugging Face Trainer's log: ``loss`` (training) beside ``eval_loss``. The table's own ``loss`` is read, and a
    warning names the evaluation loss with the --map that reads it; an evaluation loss equal to it says nothing."""
    from scalelab.fit.identify import loss_warnings

    df = ladder()
    (w,) = loss_warnings(scalelab.read(df.assign(eval_loss=df["loss"] * 1.05)))
    assert w.startswith("column 'loss' is read, and 'eval_loss' beside it holds an evaluation loss a median +5.0%")
    assert "--map loss=eval_loss" in w
    assert loss_warnings(scalelab.read(df.assign(eval_loss=df["loss"] * 1.001))) == []
    assert loss_warnings(scalelab.read(df.rename(columns={"loss": "val_loss"}).assign(train_loss=df["loss"]))) == []


def test_a_units_row_under_the_header_is_read_as_the_columns_units(tmp_path):
    """``params,tokens,loss`` over ``[M],[B],[nats]`` and then the numbers: the units join the names (``params [M]``,
    read as N in millions) and the row is no run; it had refused the table ('[M]' is no number, 50 parameters)."""
    df = ladder()
    rows = "\n".join(f"{n / 1e6:.10g},{d / 1e9:.10g},{v:.12g}" for n, d, v in df.to_numpy())
    table = scalelab.read(write(tmp_path / "u.csv", "params,tokens,loss\n[M],[B],[nats]\n" + rows + "\n"))
    np.testing.assert_allclose(table.column("N"), df["N"].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(table.column("D"), df["D"].to_numpy(), rtol=1e-9)
    assert len(table) == len(df) and table.lines[table.df.index[0]] == 3  # the file's line of the first run


def test_n_is_derived_from_compute_and_tokens_where_no_parameter_count_is_given():
    """Runs or targets that give tokens and FLOPs (or tokens per parameter) but no parameter count: N = C / (6 D),
    as D = C / (6 N) is derived beside N; they had been refused for lacking N."""
    df = ladder()
    table = scalelab.read(pd.DataFrame({"tokens": df["D"], "FLOPs": 6 * df["N"] * df["D"], "loss": df["loss"]}))
    np.testing.assert_allclose(table.column("N"), df["N"].to_numpy(), rtol=1e-12)
    assert "N derived as C / (6 D) (no parameter column given)" in table.notes
    by_ratio = scalelab.read(pd.DataFrame({"D": df["D"], "tokens_per_param": df["D"] / df["N"], "loss": df["loss"]}))
    np.testing.assert_allclose(by_ratio.column("N"), df["N"].to_numpy(), rtol=1e-12)
    fc = scalelab.forecast(df, {"C": [6 * 3e9 * 6e10], "D": [6e10]}, laws="chinchilla")
    np.testing.assert_allclose(fc.loss, scalelab.forecast(df, {"N": [3e9], "D": [6e10]}, laws="chinchilla").loss,
                               rtol=1e-12)


def test_two_columns_that_mean_one_input_stay_refused_when_runs_are_left_out():
    """Leaving out runs of no size checks the rest again for their values only: ``train_tokens`` beside
    ``tokens_seen`` (other values) or ``val_loss`` beside ``test_loss`` stay refused, naming both, as before."""
    df = ladder()
    raw = pd.DataFrame({"params": df["N"], "train_tokens": df["D"], "tokens_seen": 1.1 * df["D"], "loss": df["loss"]})
    with pytest.raises(RunTableError, match="'train_tokens' and 'tokens_seen' both mean 'D'"):
        scalelab.forecast(raw, {"N": [3e9], "D": [6e10]}, laws="chinchilla")
    losses = df.rename(columns={"loss": "val_loss"}).assign(test_loss=df["loss"] * 1.02)
    losses.loc[2, "N"] = np.nan  # a run of no size, left out first
    with pytest.raises(RunTableError, match="'val_loss' and 'test_loss' both mean 'loss'"):
        scalelab.forecast(losses, {"N": [3e9], "D": [6e10]}, laws="chinchilla")


def test_what_the_review_of_these_readings_found_is_read_as_before(tmp_path):
    """A review of this file's readings found five tables they misread, each read as before them now:
    a semicolon file with decimal commas whose rows hold more commas than its header has semicolons (its header had
    been taken for a title), a target row of C alone (a number is no footnote line), a size label beside a count in
    thousands (a clash again, not the count read 1000x small), N blank in half the runs ('as above': refused), and a
    number beside another in parentheses ('4.98 (5.28)', no uncertainty)."""
    from scalelab.forecast.target_table import target_frame

    df = ladder()
    euro = "N;D;loss;lr\n" + "\n".join(f"{n:.3E};{d:.3E};{v:.4f};0.001".replace(".", ",") for n, d, v in df.to_numpy())
    table = scalelab.read(write(tmp_path / "euro.csv", euro + "\n"))
    assert len(table) == len(df)
    np.testing.assert_allclose(table.column("N"), df["N"].to_numpy(), rtol=1e-3)
    at = target_frame(write(tmp_path / "at.csv", "N,D,C\n1.6e9,3.2e10,3.072e20\n,,1e21\n2e9,4e10,\n"))
    assert len(at) == 3 and at["C"].iloc[1] == 1e21
    labels = df["N"].map(lambda n: f"{n / 1e6:.0f}M")
    with pytest.raises(RunTableError, match="both mean 'N'"):
        scalelab.read(pd.DataFrame({"model_size": labels, "params": df["N"] / 1e3, "D": df["D"],
                                    "loss": df["loss"]})).column("N")
    ditto = df.astype({"N": object})
    ditto.loc[ditto.index % 3 != 0, "N"] = np.nan  # N written once per size, as merged cells export
    with pytest.raises(RunTableError, match="column 'N' has NaN"):
        scalelab.forecast(ditto, {"N": [3e9], "D": [6e10]}, laws="chinchilla")
    assert np.isnan(numbers(pd.Series(["4.978 (5.278)", "20000000 (16000000)"]), "N")).all()


def test_a_status_column_says_nothing_where_its_words_may_mean_otherwise():
    """'stopped' (an early stop that finished) and an evaluation's 'ok'/'error' leave no run out, nor does a
    ``complete`` column of 0/1; a state column marking most runs unfinished keeps them all, and says so."""
    from scalelab.runs.status import unfinished, without_unfinished

    df = ladder()
    for words in (("finished", "stopped"), ("ok", "error")):
        assert not unfinished(df.assign(status=np.where(df.index % 4 == 0, words[1], words[0])))[0].any()
    assert not unfinished(df.assign(complete=df.index % 2))[0].any()
    most = scalelab.read(df.assign(State=np.where(df.index % 4 == 0, "finished", "crashed")))
    kept, said = without_unfinished(most)
    assert len(kept) == len(df) and "marks 13 of 18 runs as not finished" in said and "every run is fitted" in said
