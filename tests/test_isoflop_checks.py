"""What `scalelab.isoflop` says of its inputs (a new-user trial, session 29): a C counted as 2 N D, families pooled,
resample counts too few for an interval, repeated rows, a derived C, and a tolerance that merges budgets. References:
the noiseless Chinchilla grid's own construction and NumPy (interpolation, polyfit) on its rows."""

import numpy as np
import pandas as pd
import pytest

import scalelab
from scalelab import cli
from scalelab.fit.identify import unit_warnings
from scalelab.optimal.isoflop import isoflop

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
BUDGETS = np.array([1e18, 3e18, 1e19, 3e19, 1e20])


def grid(budgets=BUDGETS, n=9):
    """Noiseless Chinchilla runs, ``n`` sizes per budget from a decade under to a decade over the true N_opt, with
    ``C = 6 N D`` exactly as written (D = C / 6N)."""
    E, A, B, a, b = (HOFFMANN[k] for k in ("E", "A", "B", "alpha", "beta"))
    G = (a * A / (b * B)) ** (1 / (a + b))
    rows = []
    for C in budgets:
        c = np.log10(G * (C / 6) ** (b / (a + b)))
        N = 10 ** np.linspace(c - 1, c + 1, n)
        D = C / (6 * N)
        rows.append(pd.DataFrame({"N": N, "D": D, "C": C, "loss": E + A / N**a + B / D**b}))
    return pd.concat(rows, ignore_index=True)


# --- 1. a C written in another convention ------------------------------------------------------------------------


def test_a_C_counted_as_2ND_or_3x_6ND_is_said_on_every_row():
    """C / (6ND) = 1/3 (C counted as 2 N D) and 3 are caught on every row, whatever the rounding of N x D: the old
    check compared at exactly 3x and so missed 1/3 and named the rows rounding put over it ("lines 4" of 45)."""
    runs = grid()
    n = len(runs)
    (w,) = [w for w in unit_warnings(scalelab.read(runs.assign(C=2 * runs.N * runs.D))) if "6 N D" in w]
    assert f"on {n} of {n} rows:" in w and "C is 1/3 of 6 N D" in w and "2 N D, the forward pass only?" in w
    (w,) = [w for w in unit_warnings(scalelab.read(runs.assign(C=18 * runs.N * runs.D))) if "6 N D" in w]
    assert f"on {n} of {n} rows:" in w and "C is 3 times 6 N D" in w
    # a few rows off: counted and named (DataFrame rows)
    few = runs.assign(C=lambda f: np.where(f.index.isin([4, 7]), 2 * f.N * f.D, 6 * f.N * f.D))
    (w,) = [w for w in unit_warnings(scalelab.read(few)) if "6 N D" in w]
    assert f"on 2 of {n} rows (rows 4, 7)" in w
    # attention FLOPs (C up to 2x 6 N D) are no mismatch
    assert not any("6 N D" in w for w in unit_warnings(scalelab.read(runs.assign(C=12 * runs.N * runs.D))))


def test_isoflop_reads_D_opt_from_the_runs_D_when_C_is_2ND():
    """With C = 2 N D the optima N_opt are those of C = 6 N D (the profiles are the same runs), and D_opt is the runs'
    own tokens at N_opt (NumPy: ln D interpolated in ln N over the budget's runs), not C / (6 N_opt), 3x too small."""
    runs = grid()
    ref = isoflop(runs, approach3=None, n_boot=0)
    res = isoflop(runs.assign(C=2 * runs.N * runs.D), approach3=None, n_boot=0)
    assert any("C is 1/3 of 6 N D" in w for w in res.warnings)
    assert any("D_opt is read from the runs' own D (3 times C / (6 N_opt) here)" in w for w in res.warnings)
    np.testing.assert_allclose(res.budgets, ref.budgets / 3, rtol=1e-12)
    np.testing.assert_allclose(res.N_opt, ref.N_opt, rtol=1e-12)
    for k, C in enumerate(BUDGETS):  # rtol: the interpolation of ln D, exact for C = 6 N D on one budget
        r = runs[np.isclose(runs.C, C)].sort_values("N")
        expect = np.exp(np.interp(np.log(res.N_opt[k]), np.log(r.N), np.log(r.D)))
        assert res.D_opt[k] == pytest.approx(expect, rel=1e-9)
        assert res.D_opt[k] == pytest.approx(C / (6 * res.N_opt[k]), rel=1e-9)
    assert res.b == pytest.approx(ref.b, abs=1e-9)
    assert not any("D_opt" in w for w in ref.warnings)  # C = 6 N D: D_opt = C / (6 N_opt), as before


# --- 2. families ---------------------------------------------------------------------------------------------------


def test_isoflop_warns_of_families_pooled_into_one_profile():
    """Two ladders (B: A's losses x 1.15 at 1.3x its sizes) in one isoFLOP profile zig-zag between them: isoflop says
    so, with fit's check (`family_warnings`), and says nothing for one family."""
    a = grid().assign(family="A")
    b = a.assign(family="B", N=a.N * 1.3, D=a.D / 1.3, loss=a.loss * 1.15)
    res = isoflop(pd.concat([a, b], ignore_index=True), approach3=None, n_boot=0)
    (w,) = [w for w in res.warnings if "families" in w]
    assert "2 families" in w and "A: 45, B: 45" in w and "one isoFLOP profile per budget" in w and "--family" in w
    assert not any("families" in w for w in isoflop(a, approach3=None, n_boot=0).warnings)


# --- 3. resample counts --------------------------------------------------------------------------------------------


def test_a_negative_n_boot_is_refused_in_the_CLIs_words(tmp_path, capsys):
    runs = grid()
    with pytest.raises(ValueError, match=r"^n_boot: must be at least 0, got -3 \(budget resamples"):
        isoflop(runs, approach3=None, n_boot=-3)
    with pytest.raises(ValueError, match=r"^n_boot_law: must be a whole number, got 2\.5"):
        isoflop(runs, n_boot_law=2.5)
    path = tmp_path / "runs.csv"
    runs.to_csv(path, index=False)
    with pytest.raises(SystemExit):
        cli.main(["isoflop", str(path), "--law", "none", "--bootstrap", "-3"])
    assert "argument --bootstrap: must be at least 0, got -3" in capsys.readouterr().err


def test_too_few_resamples_give_no_interval_and_no_verdict():
    """One budget resample gave a zero-width interval that excluded the point estimate, then "DISAGREES with Approach
    2". Under 20 there is no interval, no verdict, and a warning; 20 gives an interval that holds the estimate."""
    runs = grid()
    res = isoflop(runs, n_boot=1, n_boot_law=20, law_starts=16)
    assert np.all(np.isnan(res.a_interval)) and np.all(np.isnan(res.b_interval))
    assert np.all(np.isfinite(res.approach3["a_interval"])) and res.approach3["agree"] is None
    assert any("1 budget resamples" in w and "--bootstrap 20 or more" in w for w in res.warnings)
    assert not any("disagree" in w for w in res.warnings)
    ok = isoflop(runs, approach3=None, n_boot=20)
    assert ok.a_interval[0] <= ok.a <= ok.a_interval[1] and not any("too few" in w for w in ok.warnings)


# --- 4. notes, header, tolerance -----------------------------------------------------------------------------------


def test_repeated_rows_are_said_to_be_averaged_and_change_nothing(tmp_path, capsys):
    """isoflop averages the runs of one size in a budget, so rows written twice change no result: the note says so
    (not the fit's "each copy counts as a run"), and the parabola's vertex is NumPy's polyfit on the rows once."""
    runs = grid()
    path = tmp_path / "dup.csv"
    pd.concat([runs, runs.iloc[:10]], ignore_index=True).to_csv(path, index=False)
    res = isoflop(str(path), approach3=None, n_boot=0)
    (note,) = [n for n in res.notes if "repeat" in n]
    assert "isoflop averages the runs of one model size in a budget" in note and "counts as a run in a fit" not in note
    for k, C in enumerate(BUDGETS):
        r = runs[np.isclose(runs.C, C)]
        c2, c1, _ = np.polyfit(np.log(r.N), np.log(r.loss), 2)
        assert res.methods["parabola"]["N_opt"][k] == pytest.approx(np.exp(-c1 / (2 * c2)), rel=1e-9)
    assert cli.main(["isoflop", str(path), "--law", "none", "--bootstrap", "0"]) == 0
    err = capsys.readouterr().err
    assert "isoflop averages the runs of one model size" in err and "counts as a run in a fit" not in err


def test_the_header_says_when_C_is_derived(tmp_path, capsys):
    runs = grid()
    given, derived = tmp_path / "c.csv", tmp_path / "noc.csv"
    runs.to_csv(given, index=False)
    runs.drop(columns="C").to_csv(derived, index=False)
    assert cli.main(["isoflop", str(derived), "--law", "none", "--bootstrap", "0"]) == 0
    assert "5 budgets (C = 6ND from N and D, tolerance 0.1)" in capsys.readouterr().out
    assert cli.main(["isoflop", str(given), "--law", "none", "--bootstrap", "0"]) == 0
    assert "5 budgets (C column, tolerance 0.1)" in capsys.readouterr().out
    # the one-budget error names where C came from too
    one = runs[np.isclose(runs.C, 1e18)]
    with pytest.raises(scalelab.runs.RunTableError, match=r"\(C=1e\+18 \(9 sizes\); C = 6ND, tolerance 0\.1\)"):
        isoflop(one.drop(columns="C"), approach3=None, n_boot=0)
    with pytest.raises(scalelab.runs.RunTableError, match=r"the table's C column, tolerance"):
        isoflop(one, approach3=None, n_boot=0)


def test_a_tolerance_that_merges_budgets_is_warned_about():
    """``tolerance=5`` (meant as 5%?) puts the 1e18 and 3e18 profiles into one budget, and 1e19 with 3e19: named,
    with a tolerance that keeps them apart (3e18 / 1e18 - 1 = 2). C jittered by up to 30% within a budget, read with a
    wide tolerance, forms no separate profiles (no 1.2x gap between its runs): nothing is said."""
    res = isoflop(grid(), approach3=None, n_boot=0, tolerance=5)
    (w,) = [w for w in res.warnings if "merges" in w]
    assert "tolerance 5 merges" in w and "C=1e+18 (9 sizes), C=3e+18 (9 sizes)" in w
    assert "C=1e+19 (9 sizes), C=3e+19 (9 sizes)" in w and "below 2 " in w
    assert not any("merges" in w for w in isoflop(grid(), approach3=None, n_boot=0).warnings)
    jitter = grid().assign(C=lambda f: f.C * np.random.default_rng(0).uniform(1.0, 1.3, len(f)))
    assert not any("merges" in w for w in isoflop(jitter, approach3=None, n_boot=0, tolerance=0.5).warnings)


def test_two_budgets_give_exponents_but_no_interval_and_no_verdict():
    """Two bracketed budgets fix the power law's line exactly: every resample of them that has a slope has the same
    one, so the old interval was of zero width ([0.321, 0.321]) and could carry a DISAGREES verdict. Now the exponents
    are the line through the two optima (NumPy: the slope of ln N_opt over ln C), with no interval and no verdict."""
    res = isoflop(grid(BUDGETS[:2]), n_boot=200, approach3="chinchilla", n_boot_law=20, law_starts=16)
    slope = np.diff(np.log(res.N_opt)) / np.diff(np.log(res.budgets))
    assert res.a == pytest.approx(float(slope[0]), rel=1e-12)
    assert np.isnan(res.a_interval).all() and np.isnan(res.b_interval).all()
    assert res.approach3["agree"] is None
    assert any("rest on 2 budgets, which fix them exactly: no interval" in w for w in res.warnings)
    three = isoflop(grid(BUDGETS[:3]), n_boot=200, approach3=None)
    assert np.isfinite(three.a_interval).all()  # three budgets resample into different lines
