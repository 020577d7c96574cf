"""`suggest` on the Epoch table (issue 18): the k runs are distinct and the budget is spent.

By the Laplace variance alone (the law taken as exact) the best k runs often repeat one design
point: before the separation, ``--method gradient`` returned 4 runs at the 1,000 and 1 tokens per
parameter bounds, pairwise as close as 1e-5 decades in (log10 N, log10 D), and the greedy pick two
runs 0.12 decades apart. References: pairwise distances and sums recomputed here in NumPy.
"""

import json

import numpy as np
import pytest

from scalelab import cli

BUDGET = 1e21
SEP = 0.25  # decades in (log10 N, log10 D): the CLI's default --min-separation
SPEND = 0.9  # below this fraction of the budget the CLI must say how much is left unspent


def pairwise(runs):
    z = np.log10([[r["N"], r["D"]] for r in runs])
    d = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    return d[np.triu_indices(len(z), 1)]


def suggest(capsys, path, *extra):
    rc = cli.main(["suggest", str(path), "--budget", str(BUDGET), "--k", "4", "--json", *extra])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out), out.err


# greedy's selection and bookkeeping are also tested on a simulated table (test_design.py); on Epoch it runs with
# `make test-all` only, to keep `make test` within CI's 10 minutes
@pytest.mark.parametrize("method", [pytest.param("greedy", marks=pytest.mark.slow), "gradient"])
def test_epoch_suggestion_is_spread_and_spends_the_budget(capsys, epoch_path, method):
    obj, err = suggest(capsys, epoch_path, "--method", method)
    runs = obj["runs"]
    assert len(runs) == 4
    # distinct: every pair at least the stated separation apart (the float tolerance: the gradient
    # mode keeps only steps whose runs are min_separation apart, to 1e-9 relative)
    assert pairwise(runs).min() >= SEP * (1 - 1e-6), pairwise(runs)
    # spent: the runs' own C = 6ND add up to `spent`, which is within the budget and at least 90% of it
    C = np.array([6.0 * r["N"] * r["D"] for r in runs])
    np.testing.assert_allclose(C.sum(), obj["spent"], rtol=1e-9)
    assert SPEND * BUDGET <= obj["spent"] <= BUDGET * (1 + 1e-9)
    # the budget is spent: no warning but the fit's naming of the runs Epoch drops (the table here is all 245)
    assert not [w for w in err.splitlines() if w.startswith("warning:") and "6 MADs" not in w], err
    # still narrows the forecast, and the gradient mode is never worse than its (spread) greedy start
    assert obj["sd_after"] < obj["sd_before"]
    if method == "gradient":
        assert obj["sd_after"] <= obj["sd_greedy"] * (1 + 1e-9)


def test_suggestion_that_cannot_spend_says_so(capsys, epoch_path):
    """12 runs 0.6 decades apart do not fit the pool: the greedy mode returns fewer, and says how many and
    how much of the budget is left, on stderr (JSON stays one object on stdout); --strict makes it exit 2."""
    obj, err = suggest(capsys, epoch_path, "--k", "12", "--min-separation", "0.6")
    n = len(obj["runs"])
    assert n < 12 and pairwise(obj["runs"]).min() >= 0.6
    assert f"warning: {n} of 12 runs chosen" in err and f"{obj['spent']:.3g} of {BUDGET:.3g} FLOPs" in err
    assert "--min-separation" in err
    rc = cli.main(["suggest", str(epoch_path), "--budget", str(BUDGET), "--k", "12", "--min-separation", "0.6",
                   "--strict"])
    assert rc == 2 and "error: --strict" in capsys.readouterr().err


def test_min_separation_must_be_a_number_of_decades(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["suggest", str(tmp_path / "never_read.csv"), "--budget", "1e21", "--min-separation", "-1"])
    assert e.value.code == 2 and "error: argument --min-separation: must be" in capsys.readouterr().err
