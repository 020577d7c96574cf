"""Bad tables at the data edge: each ends in a clear error naming the column and the file lines, or a
correct read (issue 18). The references are the values written into the files."""

import json

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab.runs import RunTableError, read_frame


def good(n=8):
    N = np.geomspace(1e7, 1e9, n)
    D = 20 * N
    return pd.DataFrame({"N": N, "D": D, "loss": 1.7 + 400 / N ** 0.34 + 410 / D ** 0.28})


def use(t):
    return t.require(["N", "D", "loss"])


def test_duplicated_column_is_refused(tmp_path):
    p = tmp_path / "dup.csv"
    df = good()
    p.write_text("N,D,N,loss\n" + "\n".join(f"{a},{b},{2 * a},{c}" for a, b, c in df.to_numpy()) + "\n")
    t = scalelab.read(p)
    with pytest.raises(RunTableError, match=r"'N' appears 2 times \(columns 1, 3\) with different values"):
        use(t)
    t.require(["D", "loss"])  # the columns no method reads stay usable
    # the same column exported twice (identical cells) is read once, with a note; the docstring always said so
    p.write_text("N,D,N,loss\n" + "\n".join(f"{a},{b},{a},{c}" for a, b, c in df.to_numpy()) + "\n")
    t = scalelab.read(p)
    np.testing.assert_array_equal(t.column("N"), df["N"].to_numpy())
    assert any("'N' appears 2 times (columns 1, 3) with the same values: read once" in n for n in t.notes)


def test_a_one_letter_alias_yields_to_a_longer_name_and_a_repeated_alias_is_read_once():
    """``d`` (a model width, as configs write it) beside ``tokens``: both are aliases of D, and the longer name is
    the one a table means; ``d`` is carried untouched with a note. Two aliases holding the same values are one
    quantity written twice: read once. Two long aliases with different values stay ambiguous (next test). The same
    rules read the forecast's targets."""
    from scalelab.forecast.target_table import target_frame, target_inputs

    df = good().rename(columns={"D": "tokens"}).assign(d=lambda f: np.round(f.N ** 0.4))
    for frame in (df, df[["d", "N", "tokens", "loss"]]):  # whichever comes first in the file
        t = scalelab.read(frame)
        use(t)
        np.testing.assert_array_equal(t.column("D"), good()["D"].to_numpy())
        np.testing.assert_array_equal(t.df["d"], df["d"])
        assert any("'d' left untouched: 'tokens' is read as 'D'" in n and "--map D=d" in n for n in t.notes)
    twice = scalelab.read(good().rename(columns={"N": "params"}).assign(num_params=lambda f: f.params))
    use(twice)
    np.testing.assert_array_equal(twice.column("N"), good()["N"].to_numpy())
    assert any("'num_params' repeats 'params'" in n for n in twice.notes)
    at = target_inputs(target_frame(pd.DataFrame({"N": [7e9], "tokens": [1.4e11], "d": [4096.0]})), ["N", "D"])
    assert list(at["D"]) == [1.4e11]


def test_alias_beside_canonical_is_an_extra_column():
    """``params`` (total parameters, say) beside ``N``: the table named the column to read; the alias is
    carried untouched with a note saying how to read it instead. Two aliases and no ``N`` stay ambiguous."""
    df = good()
    df["params"] = df["N"] * 2
    df["val_loss"] = np.where(np.arange(len(df)) % 2, np.nan, df["loss"] * 1.1)  # a W&B export's partial column
    t = scalelab.read(df)
    use(t)  # N, D and loss are valid: nothing clashes
    np.testing.assert_array_equal(t.column("N"), df["N"].to_numpy())
    np.testing.assert_array_equal(t.column("loss"), df["loss"].to_numpy())
    np.testing.assert_array_equal(t.df["params"], df["params"])
    assert any("'params' left untouched" in n and "--map N=params" in n for n in t.notes)
    assert any("'val_loss' left untouched" in n for n in t.notes)
    # naming the one to use lets it in, as the note says; the displaced column is kept aside
    t = scalelab.read(df, columns={"N": "params"})
    np.testing.assert_array_equal(t.column("N"), df["params"].to_numpy())
    np.testing.assert_array_equal(t.df["N_unmapped"], df["N"].to_numpy())
    t = scalelab.read(df.drop(columns="N").assign(num_params=df["N"]))
    with pytest.raises(RunTableError, match="'params' and 'num_params' both mean 'N'"):
        use(t)
    # other labs' export names (Datablations' and ColPret's): read as N and D, not left for C / (6 N) to replace
    t = scalelab.read(good().rename(columns={"N": "num_parameters", "D": "tokens_seen"}))
    np.testing.assert_array_equal(t.column("D"), good()["D"].to_numpy())
    assert "D" not in t.derived
    for col, name in (("N", "n_parameters"), ("D", "training_tokens"), ("D", "num_train_tokens")):
        np.testing.assert_array_equal(scalelab.read(good().rename(columns={col: name})).column(col), good()[col])
    # a MoE export's total and active counts: N is the total, and the note names the laws whose N is the active one
    moe = scalelab.read(good().rename(columns={"N": "total_params"}).assign(active_params=lambda d: d.total_params / 4))
    np.testing.assert_array_equal(moe.column("N"), good()["N"])
    # the advice names the table's own column, which --map reads (a new-user trial found "--map N=N_active" refused:
    # "mapped column(s) ['N_active'] not in the table")
    assert any("N taken from N_total" in n and "clark2022_routed" in n and "--map N=active_params for" in n
               for n in moe.notes)
    mapped = scalelab.read(good().rename(columns={"N": "total_params"}).assign(active_params=lambda d: d.total_params / 4),
                           columns={"N": "active_params"})
    np.testing.assert_array_equal(mapped.column("N"), good()["N"] / 4)


def test_text_column_under_an_alias_name_is_left_untouched():
    """'data' holding dataset names beside D is an extra column, not a second D; carried through as given."""
    df = good()
    df["data"] = "c4"
    t = scalelab.read(df)
    np.testing.assert_array_equal(t.column("D"), df["D"].to_numpy())
    assert list(t.df["data"].unique()) == ["c4"]


def test_alias_repeating_the_canonical_values_is_no_clash():
    df = good()
    df["params"] = df["N"]
    t = scalelab.read(df)
    np.testing.assert_array_equal(t.column("N"), df["N"].to_numpy())
    assert any("'params' repeats 'N'" in n for n in t.notes)


@pytest.mark.parametrize("col,value,match", [
    ("N", 1e300, "'N' has implausible values in lines 5 .*1e\\+300"),
    ("D", 10.0, "'D' has implausible values in lines 5"),
    ("loss", 1e300, "'loss' has implausible values in lines 5"),
])
def test_implausible_values_name_the_file_line(tmp_path, col, value, match):
    df = good()
    df.loc[3, col] = value  # data row 3 is file line 5 (header on line 1)
    p = tmp_path / "bad.csv"
    df.to_csv(p, index=False)
    with pytest.raises(RunTableError, match=match):
        scalelab.fit(p, "chinchilla", starts=2)


def test_constant_loss_is_refused():
    df = good()
    df["loss"] = 3.0
    with pytest.raises(RunTableError, match="no variation"):
        scalelab.fit(df, "chinchilla", starts=2)


def test_blank_lines_keep_file_line_numbers(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("N,D,loss\n1e8,2e9,3.0\n\n1e9,bad,2.7\n1e10,2e11,2.4\n")
    with pytest.raises(RunTableError, match="non-numeric values in lines 4 "):
        use(scalelab.read(p))
    with pytest.raises(RunTableError, match="non-numeric values in rows 1 "):  # a DataFrame: its index
        use(scalelab.read(pd.read_csv(p)))


def test_semicolon_and_decimal_comma_are_sniffed(tmp_path):
    df = good()
    p = tmp_path / "eu.csv"
    p.write_text("N;D;loss\n" + "\n".join(";".join(f"{v:.6f}".replace(".", ",") for v in row)
                                          for row in df.to_numpy()) + "\n")
    t = scalelab.read(p)
    np.testing.assert_allclose(t.column("loss"), df["loss"], rtol=1e-6)
    np.testing.assert_allclose(t.column("N"), df["N"], rtol=1e-9)
    tab = tmp_path / "tab.txt"
    df.to_csv(tab, sep="\t", index=False)
    np.testing.assert_allclose(scalelab.read(tab).column("D"), df["D"])
    np.testing.assert_allclose(scalelab.read(tab, sep="\t").column("D"), df["D"])


def test_parquet_recognised_by_magic_bytes(tmp_path):
    p = tmp_path / "runs.csv"  # a parquet file with the wrong suffix
    good().to_parquet(p)
    np.testing.assert_allclose(scalelab.read(p).column("loss"), good()["loss"])


def test_binary_non_parquet_names_the_file(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_bytes(b"\x00\xff\xfe garbage \x81\x82")
    with pytest.raises(RunTableError, match="runs.csv: not UTF-8 text and not parquet"):
        read_frame(p)


def test_drop_highest_loss_on_a_bad_loss_column_names_it(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("N,D,loss\n1e8,2e9,3.1\n2e8,4e9,3.0.1\n4e8,8e9,2.9\n")
    with pytest.raises(RunTableError, match="'loss' has non-numeric values in lines 3"):
        scalelab.read(p).drop_highest_loss(1)


def test_a_loss_cell_written_diverged_is_explained_as_an_empty_one_is(tmp_path):
    """Found by a new-user trial: `fit` on a W&B export with 'diverged' in a loss cell said only "non-numeric values
    in lines 9", where an empty cell said what such runs are and what to do. Both say it now."""
    for cell in ("diverged", ""):
        p = tmp_path / "runs.csv"
        p.write_text(f"N,D,loss\n1e8,2e9,3.1\n2e8,4e9,{cell}\n4e8,8e9,2.9\n")
        with pytest.raises(RunTableError, match=r"in lines 3.*runs that crashed or diverged have no loss to fit; drop "
                                                r"those rows \(scalelab forecast leaves them out\)"):
            scalelab.read(p).column("loss")


def test_a_wrong_separator_named_is_said(tmp_path):
    """Found by a new-user trial: ``--sep ';'`` on a comma file gave "column 'loss' missing; columns are ['N,D,loss']"."""
    p = tmp_path / "runs.csv"
    p.write_text("N,D,loss\n1e8,2e9,3.1\n2e8,4e9,3.0\n")
    with pytest.raises(RunTableError, match="it looks separated by ',': leave --sep out"):
        scalelab.read(p, sep=";")
    assert list(scalelab.read(p, sep=",").df.columns)[:3] == ["N", "D", "loss"]
    one = tmp_path / "one.csv"  # a one-column file read with its own separator named is no mistake
    one.write_text("loss\n3.1\n3.0\n")
    assert list(scalelab.runs.read_frame(one, sep=";").columns) == ["loss"]


def test_json_named_csv_says_json(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text('{"N": [1e8], "D": [2e9], "loss": [3.0]}')
    with pytest.raises(RunTableError, match="runs.csv: looks like JSON, not CSV"):
        scalelab.read(p)


def test_columns_map_lets_any_table_in(tmp_path):
    df = pd.DataFrame({"dense_parameter_count": good()["N"], "num_experts": 8.0, "tok": good()["D"],
                       "loss_validation": good()["loss"]})
    p = tmp_path / "clark.csv"
    df.to_csv(p, index=False)
    # a loss column no alias or word names (a cross-entropy on one held-out set) is refused, telling how to map it;
    # Clark's own 'loss_validation' is read by its words (tests/test_read_by_words.py)
    xent = tmp_path / "xent.csv"
    df.rename(columns={"loss_validation": "xent_c4"}).to_csv(xent, index=False)
    with pytest.raises(RunTableError, match="'loss' missing.*--map loss=COLUMN"):
        scalelab.read(xent)
    t = scalelab.read(p, columns={"loss": "loss_validation", "N": "dense_parameter_count", "D": "tok"})
    np.testing.assert_array_equal(t.column("loss"), df["loss_validation"].to_numpy())
    assert t.column("E")[0] == 8.0  # num_experts is a known alias
    with pytest.raises(RunTableError, match=r"mapped column\(s\) \['nope'\] not in the table"):
        scalelab.read(p, columns={"loss": "nope"})


def test_counts_with_suffixes_are_read(tmp_path, capsys):
    """'125m', '1.3B', '2T' in a count column (as model cards and the Hitchhiker exports write sizes) read as
    1.25e8, 1.3e9, 2e12: in a file, under an alias (model_size, tokens), in a forecast's targets and in the CLI's
    --N, as the numbers written out. A loss column is never read so, nor an unknown suffix."""
    from scalelab.runs.columns import numbers

    np.testing.assert_array_equal(numbers(["125m", "1.3B", " 2T ", "12k", "7e3M", 5, "7X", None], "N").to_numpy(),
                                  [1.25e8, 1.3e9, 2e12, 1.2e4, 7e9, 5.0, np.nan, np.nan])
    assert np.isnan(numbers(["3M"], "loss").to_numpy()).all()
    # a whole count in thousands separators (a quoted CSV cell); a misplaced separator is no number
    np.testing.assert_array_equal(numbers(["73,824,672", " 1,000 ", "1,00", "12,345.5"], "N").to_numpy(),
                                  [73824672.0, 1000.0, np.nan, np.nan])
    # a suffixed count with a decimal comma; with exactly three digits after the comma it could be either, so unread
    np.testing.assert_allclose(numbers(["2,7B", "1,25m", " 13,0 T", "0,1234k", "1,300B", "2,7"], "N").to_numpy(),
                               [2.7e9, 1.25e6, 1.3e13, 123.4, np.nan, np.nan], rtol=1e-15)
    (tmp_path / "eu.csv").write_text("N;D;loss\n2,7B;54B;2,31\n400M;8B;2,70\n")  # decimal commas throughout
    eu = scalelab.read(tmp_path / "eu.csv")
    np.testing.assert_allclose(np.c_[eu.column("N"), eu.column("D"), eu.column("loss")],
                               [[2.7e9, 5.4e10, 2.31], [4e8, 8e9, 2.70]], rtol=1e-15)
    df = good()
    text = df.assign(N=[f"{n / 1e6:.12g}M" for n in df["N"]], D=[f"{d / 1e9:.12g}b" for d in df["D"]])
    text.rename(columns={"N": "model_size", "D": "tokens"}).to_csv(tmp_path / "t.csv", index=False)
    t = scalelab.read(tmp_path / "t.csv")
    np.testing.assert_allclose(t.column("N"), df["N"], rtol=1e-6)
    np.testing.assert_allclose(t.column("D"), df["D"], rtol=1e-6)
    bad = text.assign(loss=text["loss"].astype(str).str.cat(["k"] * len(text)))
    with pytest.raises(RunTableError, match="'loss' has non-numeric values"):
        scalelab.read(bad).require(["loss"])
    from scalelab.forecast.target_table import target_frame, target_inputs

    at = target_inputs(target_frame(pd.DataFrame({"N": ["7B", "70B"], "D": ["1.4T", "1.4e12"]})), ["N", "D"])
    np.testing.assert_array_equal(at.to_numpy(), [[7e9, 1.4e12], [7e10, 1.4e12]])
    from scalelab.cli import main as cli_main

    P = '{"E": 1.8, "A": 400, "B": 1000, "alpha": 0.34, "beta": 0.28}'
    capsys.readouterr()
    assert cli_main(["predict", "--law", "chinchilla", "--params", P, "--N", "7B", "--D", "1.4T", "--json"]) == 0
    out = __import__("json").loads(capsys.readouterr().out)
    loss = out["loss"] if isinstance(out, dict) else out[0]["loss"]
    assert np.ravel(loss)[0] == pytest.approx(1.8 + 400 / 7e9 ** 0.34 + 1000 / 1.4e12 ** 0.28, rel=1e-9)


def test_map_repeats_and_maps_a_column_whose_name_holds_a_comma(tmp_path, capsys):
    """--map given twice keeps both pairs (it kept the last only), a column named 'loss (val, nats)' maps, and one
    name mapped to two columns is refused: the fit equals the one on the canonical columns."""
    import json

    from scalelab.cli import main as cli_main

    df = good(10)
    df.to_csv(tmp_path / "plain.csv", index=False)
    df.rename(columns={"D": "tokens_seen", "loss": "loss (val, nats)"}).to_csv(tmp_path / "named.csv", index=False)
    capsys.readouterr()
    assert cli_main(["fit", str(tmp_path / "plain.csv"), "--starts", "16", "--json"]) == 0
    ref = json.loads(capsys.readouterr().out)
    assert cli_main(["fit", str(tmp_path / "named.csv"), "--map", "loss=loss (val, nats)", "--map", "D=tokens_seen",
                     "--starts", "16", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["params"] == pytest.approx(ref["params"], rel=1e-9)
    assert cli_main(["fit", str(tmp_path / "named.csv"), "--map", "loss=loss (val, nats),D=tokens_seen",
                     "--starts", "16", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == pytest.approx(ref["params"], rel=1e-9)
    assert cli_main(["fit", str(tmp_path / "named.csv"), "--map", "D=tokens_seen", "--map", "D=loss"]) == 2
    assert "D given twice" in capsys.readouterr().err


def test_d_from_an_unreadable_c_names_the_c_cells(tmp_path):
    """A table of N, C, loss with an empty C cell: the fit's 'D missing' error says D comes from C and which line
    of C is bad (it said only 'give D, or C and N', which the table does)."""
    df = good().assign(C=lambda d: 6 * d["N"] * d["D"]).drop(columns="D")
    df.loc[3, "C"] = np.nan
    df.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(RunTableError, match=r"derived as C/\(6N\), and C cannot be read: .*'C' has NaN .* lines 5"):
        scalelab.fit(tmp_path / "c.csv", "chinchilla", starts=16)


def test_a_spreadsheets_blank_rows_are_left_out_with_a_note(tmp_path):
    """Rows of separators only (',,' from a spreadsheet export) are no runs: left out, named by line, and the fit
    equals the one on the file without them (they were called repeated runs, then refused as NaN)."""
    df = good(10)
    df.to_csv(tmp_path / "plain.csv", index=False)
    text = (tmp_path / "plain.csv").read_text().splitlines()
    (tmp_path / "blank.csv").write_text("\n".join(text[:4] + [",,"] + text[4:] + [",,", ",,"]) + "\n")
    t = scalelab.read(tmp_path / "blank.csv")
    assert len(t) == 10 and any("lines 5, 13, 14 have every cell empty" in n for n in t.notes)
    a, b = scalelab.fit(tmp_path / "plain.csv", "chinchilla", starts=16), scalelab.fit(t, "chinchilla", starts=16)
    assert a.params == pytest.approx(b.params, rel=1e-12)
    assert t.rows([t.df.index[-1]]) == "lines 12"  # lines after the blank row keep their numbers


def test_a_header_repeated_in_the_file_is_no_run(tmp_path):
    """Found by a third export trial: two CSVs written one after the other (``cat a.csv b.csv``) repeat the header,
    and the table was refused ("column 'D' has non-numeric values in lines 8 (e.g. 'D')"). A row whose cells are
    their columns' names (or empty) is left out, named by line, and the fit equals the one without it; a row with one
    cell that happens to read as its column's name is data."""
    df = good(10).assign(family="family")
    df.to_csv(tmp_path / "plain.csv", index=False)
    text = (tmp_path / "plain.csv").read_text().splitlines()
    (tmp_path / "twice.csv").write_text("\n".join(text[:6] + [text[0], text[0].replace("family", "")] + text[6:]) + "\n")
    t = scalelab.read(tmp_path / "twice.csv")
    assert len(t) == 10 and any("lines 7, 8 repeat the header: left out" in n for n in t.notes)
    a, b = scalelab.fit(tmp_path / "plain.csv", "chinchilla", starts=16), scalelab.fit(t, "chinchilla", starts=16)
    assert a.params == pytest.approx(b.params, rel=1e-12)
    one = scalelab.read(tmp_path / "plain.csv")  # every run's family cell is 'family': data, not a header
    assert len(one) == 10 and not any("repeat the header" in n for n in one.notes)


def test_report_on_an_empty_loss_cell_blames_the_table_not_a_law(tmp_path):
    """The report refused a crashed run's empty loss "(needed by law 'bnsl')", a law the user never named."""
    from scalelab.report import report

    df = good(10)
    df.loc[4, "loss"] = np.nan
    df.to_csv(tmp_path / "crashed.csv", index=False)
    with pytest.raises(RunTableError, match="'loss' has NaN or infinite values in lines 6") as err:
        report(tmp_path / "crashed.csv", out=tmp_path / "rep")
    assert "law" not in str(err.value)


def test_a_float16_column_is_read_with_a_note_on_its_lost_digits(tmp_path, capsys):
    """Session-30 trial: a float16 loss column (about 3 significant digits) was fitted with no word, though its
    rounding (~0.07% near 3 nats) is as large as the run-to-run differences a law is fitted to. Now a note says so, in
    the table's notes (Python) and on stderr (the CLI), and the table is still read and fitted as given; float32 and
    float64 get none. Reference: NumPy's float16 spacing at the column's median, and the rounding actually measured."""
    from scalelab import cli

    df = good()
    loss16 = df["loss"].astype(np.float16)
    step = float(np.spacing(np.float16(np.median(loss16.astype(float)))))
    assert 2.0 ** -11 <= step / np.median(loss16.astype(float)) <= 2.0 ** -10  # float16: 10 bits after the point
    err = np.abs(loss16.to_numpy(float) - df["loss"].to_numpy())
    assert 0 < err.max() <= step  # the digits lost: half a step at each loss (< 2x the median: a step at most)
    (note,) = [n for n in scalelab.read(df.assign(loss=loss16)).notes if "float16" in n]
    assert "column 'loss' is float16, which keeps about 3 significant digits" in note and f"steps of {step:.2g}" in note
    for dtype in (np.float32, np.float64):
        assert not any("float16" in n for n in scalelab.read(df.assign(loss=df["loss"].astype(dtype))).notes)
    with np.errstate(over="ignore"):  # a count beyond 65504 becomes inf in float16: said, and refused when used
        d16 = df.assign(D=df["D"].astype(np.float16))
    assert any("column 'D' is float16" in n and "no value above 65504" in n for n in scalelab.read(d16).notes)
    path = tmp_path / "runs16.parquet"
    df.assign(loss=loss16).to_parquet(path)  # parquet keeps float16 (CSV has no dtype)
    assert cli.main(["fit", str(path), "--starts", "16", "--json"]) == 0  # not refused
    out, stderr = capsys.readouterr()
    assert f"note: {path}: column 'loss' is float16" in stderr
    assert any("float16" in n for n in json.loads(out)["notes"])
