"""Families the forecast was never tuned on: GPT-3's and OPT's training curves, read as Hitchhiker-style ladders.

Choshen et al. (2025, "A Hitchhiker's Guide to Scaling Law Estimation") forecast a family's largest model from the
checkpoints of its smaller ones: every checkpoint past the first 1e10 tokens is a run (N, D = tokens seen, loss), and
the targets are the largest model's checkpoints from 70% of its training on. The two families here come from the
ColPret data (`colpret_hitchhiker/`, see its PROVENANCE.md) and were not used to choose any rule of
`scalelab.forecast` (the public benchmark's families were), so they measure how the rules carry to new ladders:

- ``gpt3_175b`` / ``gpt3_13b``: GPT-3's training-loss curves digitised from Brown et al. (2020), 125M-175B
  parameters, 300B tokens each; each digitised curve is averaged in 30 log-spaced bins of tokens (the digitiser's
  repeated points would otherwise weigh a model by how densely its curve was traced). The 13B forecast leaves the
  175B model out altogether.
- ``opt_175b`` / ``opt_30b``: OPT's validation perplexity by tokens (Zhang et al. 2022), loss = ln(perplexity),
  125M-175B parameters.

Each table carries a ``model`` column (the size's name) and an ``lr`` column empty on every third run, as exports
do. Used by ``python benchmarks/forecast.py --unseen``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scalelab.data import data_dir

GPT3_SIZES = {"small": 125e6, "medium": 350e6, "large": 760e6, "xl": 1.3e9, "2.7b": 2.7e9, "6.7b": 6.7e9,
              "13b": 13e9, "175b": 175e9}
OPT_SIZES = {"125m": 125e6, "1.3b": 1.3e9, "6.7b": 6.7e9, "13b": 13e9, "30b": 30e9, "175b": 175e9}
CUT_TOKENS = 1e10     # checkpoints before this many tokens are left out (the Hitchhiker convention)
TARGET_FROM = 0.7     # the largest model's checkpoints from this fraction of its training are the targets


def _binned(df: pd.DataFrame, n_bins: int = 30) -> pd.DataFrame:
    """Each model's curve averaged in ``n_bins`` log-spaced bins of D (empty bins dropped)."""
    out = []
    for model, g in df.groupby("model", sort=False):
        edges = np.geomspace(g["D"].min(), g["D"].max() * (1 + 1e-9), n_bins + 1)
        a = g.groupby(np.digitize(g["D"], edges)).agg(D=("D", "mean"), loss=("loss", "mean")).reset_index(drop=True)
        out.append(a.assign(model=model, N=g["N"].iloc[0]))
    return pd.concat(out, ignore_index=True)


def _ladder(df: pd.DataFrame, top: str) -> pd.DataFrame:
    """The models up to ``top``: checkpoints past `CUT_TOKENS`, ``top``'s only from `TARGET_FROM` of its training."""
    df = df[df["N"] <= df.loc[df["model"] == top, "N"].iloc[0]]
    df = df[df["D"] >= CUT_TOKENS]
    last = df.loc[df["model"] == top, "D"].max()
    df = df[(df["model"] != top) | (df["D"] >= TARGET_FROM * last)].reset_index(drop=True)
    lr = np.where(np.arange(len(df)) % 3 == 0, np.nan, 3e-4)  # an export's column with gaps, never read
    return df[["model", "N", "D", "loss"]].assign(lr=lr)


def unseen_families() -> dict[str, pd.DataFrame]:
    """name -> run table (model, N, D, loss, lr) whose largest size's rows are the targets; {} without the data."""
    root = data_dir() / "colpret_hitchhiker"
    fams = {}
    p = root / "raw_data" / "gpt3__extracted.csv"
    if p.exists():
        g = pd.read_csv(p).dropna(subset=["train_loss"])
        g = g[g["step"] * 1e9 >= CUT_TOKENS]  # before binning, so that every bin holds kept checkpoints
        g = _binned(g.assign(N=g["model"].map(GPT3_SIZES), D=g["step"] * 1e9, loss=g["train_loss"]))
        fams["gpt3_175b"], fams["gpt3_13b"] = _ladder(g, "175b"), _ladder(g, "13b")
    p = root / "aggregated_eval" / "opt_trajectories.csv"
    if p.exists():
        o = pd.read_csv(p)
        o = o.assign(model=o["model_size"], N=o["model_size"].map(OPT_SIZES), D=10 ** o["num_token"],
                     loss=np.log(o["ppl"]))
        fams["opt_175b"], fams["opt_30b"] = _ladder(o, "175b"), _ladder(o, "30b")
    return fams
