"""Extrapolation benchmark: every applicable loss law on each model family of the Hitchhiker's Guide data.

Protocol (after Choshen, Zhang, Andreas 2025, arXiv 2410.11840, `util/fit_utils.py`, simplified):
for each family, the target is its largest model (by N). Train points: every kept point of the
smaller models; test points: the largest model's points from >= 70% of its training tokens
(final losses only, for families of final losses). Score: ARE = mean |L_pred - L| / L on the test
points. Training curves are thinned to <= 40 log-spaced checkpoints per model, and checkpoints in the
first 10% of a run's tokens are dropped (warm-up). Laws are fitted by `scalelab.compare.compare_one`
(held-out points get weight 0 in the train fit); a law is applicable when the family has its inputs.

Families (data in ../shared/data/colpret_hitchhiker, plus ../shared/data/epoch_chinchilla):
  epoch_chinchilla   final losses, N, D = C/6N (245 rows)
  gadre_<dataset>    Gadre et al. 2024 over-training runs, final loss_openlm (the training data's val loss)
  gpt3               GPT-3 training curves digitised from Brown et al. 2020 (train loss; N by model name)
  datablations_<d>   Muennighoff et al. 2023 repeated-data curves (c4, oscar): N, D, U_D = tokens per epoch
The IBM MoE table has perplexities but no loss column and is not scored.

Usage: python benchmarks/extrapolation.py [--json out.json]   (the markdown table is always printed)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import pandas as pd

import scalelab
from scalelab import compare, laws
from scalelab.data import data_dir

GPT3_N = {"small": 125e6, "medium": 350e6, "large": 760e6, "xl": 1.3e9, "2.7b": 2.7e9, "6.7b": 6.7e9,
          "13b": 13e9, "175b": 175e9}


def _parse_size(s: str) -> float:
    s = str(s).strip().upper()
    mult = {"M": 1e6, "B": 1e9, "K": 1e3}.get(s[-1])
    return float(s[:-1]) * mult if mult else float(s)


def _thin(df: pd.DataFrame, key: str, col: str = "D", n: int = 40) -> pd.DataFrame:
    """Per run ``key``: drop the first 10% of tokens, keep <= n checkpoints log-spaced in ``col``."""
    out = []
    for _, g in df.groupby(key):
        g = g.sort_values(col)
        g = g[g[col] >= 0.1 * g[col].max()]
        if len(g) > n:
            targets = np.geomspace(g[col].min(), g[col].max(), n)
            idx = np.unique(np.searchsorted(g[col].to_numpy(), targets).clip(0, len(g) - 1))
            g = g.iloc[idx]
        out.append(g)
    return pd.concat(out, ignore_index=True)


def families() -> dict[str, tuple[pd.DataFrame, bool]]:
    """name -> (run table with N, D, C, loss [, U_D], run, is_curve)."""
    root = data_dir()
    fams = {}
    p = root / "epoch_chinchilla" / "runs.csv"
    if p.exists():
        df = pd.read_csv(p)
        df["run"] = np.arange(len(df))
        fams["epoch_chinchilla"] = (df[["N", "D", "C", "loss", "run"]], False)
    hh = root / "colpret_hitchhiker"
    p = hh / "raw_data" / "overtrain__overtrain_downstreams.csv"
    if p.exists():
        o = pd.read_csv(p)
        for name, g in o.groupby("dataset_name"):
            df = pd.DataFrame({"N": g["N"].astype(float), "D": g["D"].astype(float), "loss": g["loss_openlm"]})
            df["C"] = 6 * df["N"] * df["D"]
            df["run"] = np.arange(len(df))
            fams[f"gadre_{name}"] = (df.dropna().reset_index(drop=True), False)
    p = hh / "raw_data" / "gpt3__extracted.csv"
    if p.exists():
        g = pd.read_csv(p)
        df = pd.DataFrame({"N": g["model"].map(GPT3_N), "D": g["step"] * 1e9, "loss": g["train_loss"],
                           "run": g["model"]}).dropna()
        df = df[df["D"] > 0]
        df["C"] = 6 * df["N"] * df["D"]
        fams["gpt3"] = (_thin(df, "run"), True)
    p = hh / "aggregated_eval" / "datablations_losses.csv"
    if p.exists():
        d = pd.read_csv(p)
        for name, g in d.groupby("data"):
            df = pd.DataFrame({"N": g["num_params"].map(_parse_size), "D": g["token_num"].astype(float),
                               "U_D": g["tokens_per_epoch"].astype(float), "loss": g["loss"].astype(float),
                               "run": g["model_args"].astype(str)}).dropna()
            df["C"] = 6 * df["N"] * df["D"]
            fams[f"datablations_{name}"] = (_thin(df, "run"), True)
    return fams


def split(df: pd.DataFrame, curve: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """Table (train + test rows) and the test mask: the largest model's points from >= 70% of its training."""
    big = np.isclose(df["N"], df["N"].max())
    if curve:
        frac = df["D"] / df.groupby("run")["D"].transform("max")
        keep = ~big | (frac >= 0.7)
        df = df[keep].reset_index(drop=True)
        big = np.isclose(df["N"], df["N"].max())
    return df, np.asarray(big)


def run(law_names=None, verbose=True) -> dict:
    names = law_names or [l.name for l in laws.all_laws() if l.target == "loss"]
    out = {"device": f"{platform.processor() or platform.machine()} CPU x{__import__('os').cpu_count()}",
           "families": {}}
    for fam, (df, curve) in families().items():
        table, mask = split(df, curve)
        rt = scalelab.read(table.drop(columns=["run"]))
        res = {}
        for name in names:
            law = laws.get(name)
            t0 = time.perf_counter()
            r = compare.compare_one(rt, law, mask=mask)
            r["seconds"] = time.perf_counter() - t0
            res[name] = r
            if verbose:
                msg = (f"ARE {100 * r['extrapolation_are']:.2f}%" if r.get("extrapolation_are") is not None
                       else r.get("reason", "; ".join(r.get("notes", []))))
                print(f"{fam:<24} {name:<28} {msg} ({r['seconds']:.1f} s)", file=sys.stderr, flush=True)
        out["families"][fam] = {"n_train": int((~mask).sum()), "n_test": int(mask.sum()),
                                "target_N": float(table["N"].max()), "laws": res}
    return out


def markdown(out: dict) -> str:
    fams = list(out["families"])
    names = sorted({n for f in fams for n, r in out["families"][f]["laws"].items() if r["status"] == "ok"})
    lines = ["| law | " + " | ".join(fams) + " |", "|---|" + "---|" * len(fams)]
    for n in names:
        cells = []
        for f in fams:
            r = out["families"][f]["laws"].get(n, {})
            are = r.get("extrapolation_are")
            cells.append("-" if are is None else f"{100 * are:.2f}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    lines.append("| (train / test points) | " + " | ".join(
        f"{out['families'][f]['n_train']} / {out['families'][f]['n_test']}" for f in fams) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--laws", default=None, help="comma-separated laws (default: every loss law)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = run(args.laws.split(",") if args.laws else None)
    out["seconds"] = time.perf_counter() - t0
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    print(markdown(out))
    print(f"\n{out['device']}, {out['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
