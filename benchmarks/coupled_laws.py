"""Coupled laws (skaling, farseer) against chinchilla on real tables: extrapolation, global optimum, fit time.

Tables (public data in ../shared/data):
  epoch             Epoch's Chinchilla replication, less its 5 highest-loss rows (240 runs)
  gadre_<dataset>   the Hitchhiker's Guide copy of Gadre et al.'s over-training runs: final loss_openlm (34-35 runs)
  porian_<config>   Porian et al.'s isoFLOP points, one table per configuration (88-132 points)

Extrapolation (default): fit each law with its default starts on every row but the largest model size
(log10 N rounded to 0.05), predict that size, score the mean absolute relative error of the loss (ARE).
``--global``: the objective each law's default fit reaches on the full table against a 20,000-start
random search (20k screened 4 LM iterations, best 512 polished up to 500), and the default fit's time
(first call, with compilation, and warm). Defaults: chinchilla Hoffmann's 4,500-start grid, skaling its
1,728-start grid (keep 64, 4 screening iterations, up to 200), farseer its 512-start grid with FARSEER_FIT.

Usage: python benchmarks/coupled_laws.py [--global] [--porian few|all] [--laws chinchilla,skaling,farseer]
       [--tables epoch,gadre_rpj,...]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

import scalelab
from scalelab.data import data_dir
from scalelab.laws.coupled import FARSEER_FIT

from _common import device_name

DEFAULT_STARTS = {"farseer": FARSEER_FIT}  # the law's grid, with its recommended solver settings
PORIAN_FEW = ["porian_rw_base_long_kaplan_kaplan_train", "porian_rw_base_short_chinchilla_standard_val",
              "porian_rw_tuned_short_const_standard_val", "porian_owt2_base_long_kaplan_kaplan_train",
              "porian_owt2_tuned_short_const_standard_val"]


def tables(porian="few") -> dict[str, pd.DataFrame]:
    root = data_dir()
    out = {}
    ep = scalelab.read(root / "epoch_chinchilla" / "runs.csv").drop_highest_loss(5)
    out["epoch"] = pd.DataFrame({"N": ep.column("N"), "D": ep.column("D"), "loss": ep.column("loss")})
    o = pd.read_csv(root / "colpret_hitchhiker" / "raw_data" / "overtrain__overtrain_downstreams.csv")
    for name, g in o.groupby("dataset_name"):
        df = pd.DataFrame({"N": g["N"].astype(float), "D": g["D"].astype(float), "loss": g["loss_openlm"]})
        out[f"gadre_{name}"] = df.dropna().reset_index(drop=True)
    p = pd.read_csv(root / "porian2024_rsld" / "isoflop_points.csv")
    keys = ["dataset", "hparams", "warmup", "decay", "param_count", "val"]
    for k, g in p.groupby(keys):
        name = "porian_" + "_".join(k)
        if porian == "all" or name in PORIAN_FEW:
            out[name] = pd.DataFrame({"N": g.n_params.to_numpy(float), "D": g.tokens.to_numpy(float),
                                      "loss": g.loss.to_numpy(float)})
    return out


def largest_size(df: pd.DataFrame) -> np.ndarray:
    size = np.round(np.log10(df["N"].to_numpy()) / 0.05)
    return size == size.max()


def fit(df, law, **kw):
    return scalelab.fit(df, law, **{**DEFAULT_STARTS.get(law, {}), **kw})


def extrapolation(tabs, law_names):
    rows = {}
    for fam, df in tabs.items():
        test = largest_size(df)
        train = df[~test].reset_index(drop=True)
        y = df["loss"].to_numpy()[test]
        res = {}
        for name in law_names:
            r = fit(train, name)
            pred = r.predict(N=df["N"].to_numpy()[test], D=df["D"].to_numpy()[test])
            res[name] = float(np.mean(np.abs(pred / y - 1)))
            extra = f" kappa {r.params['kappa']:.3f}" if name == "skaling" else ""
            print(f"{fam:<46} {name:<11} ARE {100 * res[name]:6.3f}%{extra}", file=sys.stderr, flush=True)
        rows[fam] = {"n_train": int((~test).sum()), "n_test": int(test.sum()), **res}
    return rows


def global_check(tabs, law_names, n_big=20000):
    out = {}
    for fam, df in tabs.items():
        for name in law_names:
            t0 = time.perf_counter()
            r = fit(df, name)
            t1 = time.perf_counter()
            fit(df, name)
            t2 = time.perf_counter()
            big = scalelab.fit(df, name, starts=n_big, keep=512, max_iter=500, seed=1)
            gap = (r.objective - big.objective) / big.objective
            out[(fam, name)] = (r.objective, big.objective, gap, t1 - t0, t2 - t1, r.converged)
            print(f"{fam:<46} {name:<11} default {r.objective:.8g} 20k {big.objective:.8g} gap {100 * gap:+.4f}% "
                  f"first {t1 - t0:.1f} s warm {t2 - t1:.2f} s converged {r.converged}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--global", dest="glob", action="store_true", help="objective gap to a 20k-start search")
    ap.add_argument("--porian", default="few", help="'few' (5 configurations) or 'all' (15)")
    ap.add_argument("--laws", default="chinchilla,skaling,farseer")
    ap.add_argument("--tables", default=None, help="comma-separated table names (default: all)")
    args = ap.parse_args(argv)
    names = args.laws.split(",")
    tabs = tables(args.porian)
    if args.tables:
        tabs = {k: tabs[k] for k in args.tables.split(",")}
    print(f"device: {device_name()}")
    t0 = time.perf_counter()
    if args.glob:
        global_check(tabs, names)
    else:
        rows = extrapolation(tabs, names)
        print("| table | train / test | " + " | ".join(f"{n} ARE %" for n in names) + " |")
        print("|---|---|" + "---|" * len(names))
        for fam, r in rows.items():
            print(f"| {fam} | {r['n_train']} / {r['n_test']} | " + " | ".join(f"{100 * r[n]:.3f}" for n in names) + " |")
        means = {n: np.mean([r[n] for r in rows.values()]) for n in names}
        print("| mean | | " + " | ".join(f"{100 * means[n]:.3f}" for n in names) + " |")
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
