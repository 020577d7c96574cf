"""RunTable reading and validation: every bad input gets one clear error."""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.runs import RunTableError


def good():
    return pd.DataFrame({"N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9],
                         "D": [2e9, 4e9, 8e9, 1.6e10, 3.2e10, 6.4e10],
                         "loss": [3.5, 3.2, 3.0, 2.8, 2.6, 2.5]})


def test_aliases_are_renamed_and_noted():
    df = good().rename(columns={"N": "params", "D": "tokens", "loss": "final_loss"})
    t = scalelab.read(df)
    assert {"N", "D", "loss"} <= set(t.columns)
    assert any("'params' read as 'N'" in n for n in t.notes)


def test_D_derived_from_C_and_noted():
    df = good()
    df["C"] = 6 * df["N"] * df["D"]
    t = scalelab.read(df.drop(columns="D"))
    np.testing.assert_allclose(t.column("D"), good()["D"], rtol=1e-12)
    assert any("C / (6 N)" in n for n in t.notes)


def test_missing_required_column_names_it():
    t = scalelab.read(good().drop(columns="D"))
    with pytest.raises(RunTableError, match="'D'.*C/\\(6N\\)"):
        scalelab.fit(t, "chinchilla", starts=4)


def test_missing_loss():
    with pytest.raises(RunTableError, match="'loss' missing"):
        scalelab.read(good().drop(columns="loss"))


def use(df, cols=("N", "D", "C", "loss")):
    """Bad values are refused when a method reads the column (here: a law of N, D, C and loss)."""
    return scalelab.read(df).require([c for c in cols if c in df.columns])


def test_non_numeric_names_column_and_row():
    df = good().astype({"D": object})
    df.loc[3, "D"] = "lots"
    with pytest.raises(RunTableError, match="'D' has non-numeric values in rows 3"):
        use(df)
    with pytest.raises(RunTableError, match="'D' has non-numeric values in rows 3"):
        scalelab.fit(df, "chinchilla", starts=4)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_inf_rejected(value):
    df = good()
    df.loc[2, "loss"] = value
    with pytest.raises(RunTableError, match="'loss' has NaN or infinite values in rows 2: runs that crashed or "
                                            "diverged have no loss to fit; drop those rows"):
        use(df)


@pytest.mark.parametrize("col", ["N", "D", "loss", "C"])
def test_non_positive_rejected(col):
    df = good()
    df["C"] = 6 * df["N"] * df["D"]
    df.loc[[1, 4], col] = [0.0, -1.0]
    with pytest.raises(RunTableError, match=f"'{col}' must be > 0; rows 1, 4"):
        use(df)


def test_too_few_runs_for_law():
    t = scalelab.read(good().iloc[:5])
    with pytest.raises(RunTableError, match="5 runs cannot determine the 5 free parameters"):
        scalelab.fit(t, "chinchilla", starts=4)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(RunTableError, match="empty"):
        scalelab.read(p)


def test_header_only_file(tmp_path):
    p = tmp_path / "header.csv"
    p.write_text("N,D,loss\n")
    with pytest.raises(RunTableError, match="empty"):
        scalelab.read(p)


def test_unreadable_file(tmp_path):
    p = tmp_path / "bad.parquet"
    p.write_bytes(b"this is not parquet")
    with pytest.raises(RunTableError, match="could not read it as parquet"):
        scalelab.read(p)


def test_missing_file(tmp_path):
    with pytest.raises(RunTableError, match="no such file"):
        scalelab.read(tmp_path / "nope.csv")


def test_csv_and_parquet_round_trip(tmp_path):
    df = good()
    for name in ("runs.csv", "runs.parquet"):
        scalelab.runs.write(df, tmp_path / name)
        back = scalelab.read(tmp_path / name)
        np.testing.assert_allclose(back.column("loss"), df["loss"])


def test_drop_highest_loss_keeps_order_and_notes():
    t = scalelab.read(good()).drop_highest_loss(2)
    assert list(t.df.index) == [2, 3, 4, 5]
    assert "dropped the 2 highest-loss rows" in t.notes[-1]


def test_drop_highest_loss_leaves_crashed_runs_to_the_command():
    df = good().assign(loss=[3.5, np.nan, 3.0, 2.8, np.nan, 2.5])  # two runs crashed: no loss
    t = scalelab.read(df).drop_highest_loss(2)  # the highest two with a loss: 3.5 and 3.0
    assert list(t.df.index) == [1, 3, 4, 5]
    kept, said = t.without_missing("loss")
    assert list(kept.df.index) == [3, 5] and "2 of 4 runs left out" in said
    with pytest.raises(RunTableError, match="cannot drop the 4 highest-loss runs of 4 with a loss"):
        scalelab.read(df).drop_highest_loss(4)
    with pytest.raises(RunTableError, match="must be > 0"):  # a loss column with other faults is still refused
        scalelab.read(good().assign(loss=[3.5, -1.0, 3.0, 2.8, 2.6, 2.5])).drop_highest_loss(1)


def test_a_diverged_run_is_left_out_like_a_crashed_one():
    """Found by a new-user trial: one run logged as ``diverged`` or ``inf`` made the whole table unusable, where an
    empty cell is left out with a note. A word with no digit and an infinite loss are no result either; a number the
    table cannot read (``2,5x``) and a zero loss are still refused."""
    for cell, shown in (("diverged", "e.g. 'diverged'"), (np.inf, "e.g. inf"), ("N/A", "e.g. 'N/A'")):
        df = good().astype({"loss": object})
        df.loc[2, "loss"] = cell
        kept, said = scalelab.read(df).without_missing("loss")
        assert list(kept.df.index) == [0, 1, 3, 4, 5] and "1 of 6 runs left out" in said and shown in said
        np.testing.assert_allclose(kept.column("loss"), good()["loss"].drop(2))
    for cell, problem in (("2,5x", "non-numeric values"), (0.0, "must be > 0")):
        df = good().astype({"loss": object})
        df.loc[2, "loss"] = cell
        kept, said = scalelab.read(df).without_missing("loss")
        assert said is None
        with pytest.raises(RunTableError, match=problem):
            kept.column("loss")


def test_a_few_losses_above_20_nats_among_plausible_ones_are_diverged_runs():
    """Found by a third export trial: one seed logged at 25 nats (a run that blew up) made the whole table fail with
    'is it a perplexity?', where the same run logged as inf was left out. A few values above 20 among losses of at
    most 10 are now diverged runs, left out and named; a column of perplexities (many values above 20, or the others
    near it) is still refused as a unit mistake."""
    big = pd.concat([good()] * 2, ignore_index=True)  # 12 runs
    diverged = big.assign(loss=big["loss"].where(big.index != 7, 25.0))
    kept, said = scalelab.read(diverged).without_missing("loss")
    assert list(kept.df.index) == [i for i in range(12) if i != 7]
    assert "no 'loss' in rows 7 (a loss above 20 nats, e.g. 25," in said and "1 of 12 runs left out" in said
    np.testing.assert_allclose(kept.column("loss"), big["loss"].drop(7))
    for loss in (big["loss"] * 10,  # perplexity-like: every value above 20 but the smallest
                 big["loss"].where(big.index != 7, 25.0) * 4.5):  # the others at 11-16: no loss in nats is that high
        kept, said = scalelab.read(big.assign(loss=loss)).without_missing("loss")
        assert said is None
        with pytest.raises(RunTableError, match="is it a perplexity"):
            kept.column("loss")
    two = big.assign(loss=big["loss"].where(~big.index.isin([3, 7]), 25.0))  # 2 of 12: more than a tenth
    with pytest.raises(RunTableError, match="is it a perplexity"):
        scalelab.read(two).without_missing("loss")[0].column("loss")


def test_a_diverged_run_is_named_by_fit_and_drop_highest_loss_removes_it():
    """A fit refuses a diverged run's loss and says how to drop it; ``drop_highest_loss`` did drop the row but left
    the loss column refused (its check was not made again on the rows kept), so the advice did not work."""
    big = pd.concat([good()] * 2, ignore_index=True)
    for cell in (25.0, np.inf):
        t = scalelab.read(big.assign(loss=big["loss"].where(big.index != 7, cell)))
        with pytest.raises(RunTableError, match="runs that diverged have no loss to fit" if cell == 25.0
                           else "NaN or infinite values in rows 7"):
            t.column("loss")
        kept = t.drop_highest_loss(1)
        np.testing.assert_array_equal(kept.column("loss"), big["loss"].drop(7))


def test_tokens_per_parameter_far_from_any_run_suggests_units():
    from scalelab.fit.identify import design_warnings

    units = lambda table: [w for w in design_warnings(table, ("N", "D")) if "tokens per parameter" in w]  # noqa: E731
    assert not units(scalelab.read(good()))  # 20 tokens per parameter
    # a 1B-32B ladder at 20 tokens per parameter with N written in millions (1,000-32,000: plausible counts alone)
    N = np.array([1e3, 2e3, 4e3, 8e3, 1.6e4, 3.2e4])
    millions = pd.DataFrame({"N": N, "D": 20 * N * 1e6, "loss": good()["loss"]})
    (warning,) = units(scalelab.read(millions))
    assert "median tokens per parameter is 2e+07" in warning and "N in millions" in warning
    # a design warning (what fit, forecast and the posteriors put in their JSON), not a note on stderr alone
    assert not any("tokens per parameter" in n for n in scalelab.read(millions).notes)


def test_two_ladders_mixed_are_named_seeds_are_not(tmp_path):
    seeds = pd.concat([good(), good().assign(loss=good()["loss"] * 1.01)])  # a second seed, 1% off
    assert not any("apart" in n for n in scalelab.read(seeds).notes)
    mixed = pd.concat([good(), good().assign(loss=good()["loss"] * 1.5)])  # validation losses beside train losses
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    (note,) = [n for n in scalelab.read(tmp_path / "mixed.csv").notes if "apart" in n]
    assert "6 input points (runs alike in N, D)" in note and "50% apart" in note and "lines 2, 3" in note
    # told apart by a column, or an isoFLOP profile (one budget, no N or D given), says nothing
    assert not any("apart" in n for n in scalelab.read(mixed.assign(family=["train"] * 6 + ["val"] * 6)).notes)
    profile = pd.DataFrame({"C": [1e19] * 4, "loss": [3.0, 2.8, 2.9, 3.6]})
    assert not any("apart" in n for n in scalelab.read(profile).notes)
