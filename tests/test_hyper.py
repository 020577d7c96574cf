"""Hyper-parameter sweeps: cell optima from a quadratic in logs, then B_opt / lr_opt laws (simulated sweeps)."""

import numpy as np
import pandas as pd
import pytest

from scalelab import laws
from scalelab.optimal import hyper

CH = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
# per family: B_opt = lB L^-aB (sequences), lr_opt = llr L^-alr; MoE: smaller batch, larger lr at equal loss
TRUE = {"dense": {"lambda_B": 2e4, "alpha_B": 5.0, "lambda_lr": 1e-4, "alpha_lr": -2.0},
        "moe": {"lambda_B": 1e4, "alpha_B": 5.0, "lambda_lr": 2.5e-4, "alpha_lr": -2.0}}
LRS = np.geomspace(1e-4, 1e-1, 7)
BSS = np.geomspace(4, 4096, 7)


def sweep(noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for fam, t in TRUE.items():
        for N in np.geomspace(5e7, 2e9, 5):
            D = 20 * N
            L = CH["E"] + CH["A"] / N ** CH["alpha"] + CH["B"] / D ** CH["beta"]
            b_opt, lr_opt = t["lambda_B"] * L ** -t["alpha_B"], t["lambda_lr"] * L ** -t["alpha_lr"]
            for lr in LRS:
                for bs in BSS:
                    loss = L + 0.02 * np.log(lr / lr_opt) ** 2 + 0.01 * np.log(bs / b_opt) ** 2 \
                        + 0.004 * np.log(lr / lr_opt) * np.log(bs / b_opt)
                    rows.append({"family": fam, "N": N, "D": D, "C": 6 * N * D, "lr": lr, "batch_size": bs,
                                 "loss": loss * np.exp(noise * rng.standard_normal()), "L_true": L,
                                 "b_true": b_opt, "lr_true": lr_opt})
    return pd.DataFrame(rows)


def test_quadratic_optimum_is_exact_on_a_quadratic_bowl():
    df = sweep()
    opt = hyper.cell_optima(df.drop(columns=["L_true", "b_true", "lr_true"]))
    truth = df.groupby(["family", "N"]).first().reset_index()
    m = opt.merge(truth, on=["family", "N"])
    assert (m["note"] == "quadratic in (log lr, log batch_size)").all()
    # the loss is exactly quadratic in logs: the stationary point is exact (float64 lstsq)
    np.testing.assert_allclose(m["lr_opt"], m["lr_true"], rtol=1e-8)
    np.testing.assert_allclose(m["batch_size_opt"], m["b_true"], rtol=1e-8)
    np.testing.assert_allclose(m["loss_opt"], m["L_true"], rtol=1e-10)
    # off-grid optima: the raw argmin could not have found them
    assert not np.any(np.isin(np.round(m["lr_opt"], 12), np.round(LRS, 12)))


def test_hyper_laws_recover_and_compare_dense_moe():
    df = sweep(noise=0.001, seed=1)
    opt = hyper.cell_optima(df.drop(columns=["L_true", "b_true", "lr_true"]))
    fits = hyper.fit_hyper_laws(opt)
    for fam, t in TRUE.items():
        p = fits[fam]["batch_size_loss"]["params"]
        assert p["alpha_B"] == pytest.approx(t["alpha_B"], rel=0.1)
        q = fits[fam]["lr_loss"]["params"]
        assert q["alpha_lr"] == pytest.approx(t["alpha_lr"], rel=0.1)
        # compute laws: against a closed-form log-log least-squares line on the same optima
        o = opt[opt.family == fam]
        slope, icpt = np.polyfit(np.log(o["C"]), np.log(o["batch_size_opt"]), 1)
        assert fits[fam]["deepseek_batch_size"]["params"]["alpha_B"] == pytest.approx(slope, abs=1e-6)
        assert np.log(fits[fam]["deepseek_batch_size"]["params"]["lambda_B"]) == pytest.approx(icpt, abs=1e-4)
        slope, icpt = np.polyfit(np.log(o["C"]), np.log(o["lr_opt"]), 1)
        assert fits[fam]["deepseek_lr"]["params"]["alpha_lr"] == pytest.approx(-slope, abs=1e-6)
    cmp = hyper.compare_groups(fits, [2.5, 3.0])
    np.testing.assert_allclose(cmp["batch_size_ratio"], 0.5, rtol=0.1)  # MoE half the batch
    np.testing.assert_allclose(cmp["lr_ratio"], 2.5, rtol=0.1)          # and 2.5x the lr


def test_one_dimensional_and_degenerate_cells():
    lr = np.geomspace(1e-3, 1e-1, 5)
    loss = 3 + 0.05 * np.log(lr / 0.0123) ** 2
    r = hyper.cell_optimum(lr, np.full(5, 32.0), loss)
    assert r["lr_opt"] == pytest.approx(0.0123, rel=1e-8) and r["batch_size_opt"] == 32.0
    r = hyper.cell_optimum(lr, np.full(5, 32.0), 3 - 0.05 * np.log(lr / 0.0123) ** 2)  # concave
    assert r["note"].startswith("quadratic not convex")
    with pytest.raises(Exception, match="lr"):
        hyper.cell_optima(pd.DataFrame({"N": [1e8], "D": [1e9], "loss": [3.0]}))


def test_optimum_beyond_the_sweep_lands_on_the_edge():
    # batch optimum below the swept range: the best lr at the smallest batch, from the fitted quadratic
    xo, yo = np.log(0.01), np.log(1.0)
    rows = [{"N": 1e8, "D": 1e9, "lr": lr, "batch_size": bs,
             "loss": 3 + 0.02 * (np.log(lr) - xo) ** 2 + 0.01 * (np.log(bs) - yo) ** 2
             + 0.004 * (np.log(lr) - xo) * (np.log(bs) - yo)} for lr in LRS for bs in BSS]
    r = hyper.cell_optima(pd.DataFrame(rows)).iloc[0]
    assert r["batch_size_opt"] == pytest.approx(BSS.min())
    # conditional optimum at y0: 0.04 (x - xo) + 0.004 (y0 - yo) = 0
    assert np.log(r["lr_opt"]) == pytest.approx(xo - 0.1 * (np.log(BSS.min()) - yo), abs=1e-8)
    assert "edge of the swept batch_size range" in r["note"]


def test_runs_of_no_family_are_a_cell_of_their_own():
    """Found by a trial: a sweep whose family cell is empty for one run lost that run from its cell without a word
    (pandas' groupby drops a missing key). It is now a cell of its own, and every run is in some cell."""
    rows = [{"family": "a", "N": 1e8, "D": 1e9, "lr": lr, "batch_size": bs,
             "loss": 3 + 0.02 * np.log(lr / 0.01) ** 2 + 0.01 * np.log(bs / 64) ** 2} for lr in LRS for bs in BSS]
    df = pd.DataFrame(rows)
    df.loc[0, "family"] = np.nan
    opt = hyper.cell_optima(df)
    assert len(opt) == 2 and opt["family"].isna().sum() == 1
    assert opt["n_runs"].tolist() == [len(df) - 1, 1]
    fits = hyper.fit_hyper_laws(opt)
    assert set(fits) == {"a", "nan"}
