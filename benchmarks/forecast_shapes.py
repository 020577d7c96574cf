"""`scalelab forecast` on simulated ladders shaped like other labs' public ones: the shapes the private benchmark
describes (12 to 404 runs, the largest model size forecast, up to 2.5e10 parameters, a dense N x D grid, also with a
coupled truth on which a Chinchilla fit misses by 1-1.6%).

Each shape is a design of (N, D) runs; its losses come from a known truth (Chinchilla with Hoffmann et al.'s
parameters, or the kappa-coupled Chinchilla of Videau et al. with kappa 1.2 or 0.8) times log-normal noise
(``--sigma``, 0.5%). The largest model size is held out and forecast from the rest by exactly the CLI call
``scalelab forecast TRAIN.csv --at TARGETS.csv --ci 0.9 --json`` (in this process: `scalelab.cli.main`), and by the
SciPy Chinchilla reference of `benchmarks/forecast.py` (Hoffmann grid, L-BFGS-B, summed Huber). Printed per shape,
over ``--seeds`` noise draws: the mean absolute relative error against the noiseless truth (and the reference's),
the share of the held-out noisy runs inside their interval, the share of families with every held-out run inside,
the median relative width, and the seconds per call.

    python benchmarks/forecast_shapes.py [--seeds 3] [--shapes pythia,grid404] [--jsonl F] [--group-span 0.2]
        [--sweeps best|all]

``--jsonl F`` saves each forecast's row with the held-out runs (``y``), their noiseless losses (``truth``) and the
forecast's ``details``, so that `forecast_scale_rules.py --shapes F` can weigh another interval rule without refitting.

A swept shape (``olmo_k1.2_lr4``) writes each training run at four learning rates (`sweep`); ``--sweeps all``
forecasts from every one of them, as before the fifth export trial.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, jsonable  # noqa: E402
from forecast import scipy_chinchilla  # noqa: E402

import scalelab  # noqa: E402
from scalelab.cli import main as cli_main  # noqa: E402

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28, "kappa": 1.0}
EPOCH = {"E": 1.82, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658, "kappa": 1.0}


def grid(N, tpp):
    """Every size at every tokens per parameter: ``(N, D)`` arrays."""
    N, tpp = np.asarray(N, float), np.asarray(tpp, float)
    return np.repeat(N, len(tpp)), np.repeat(N, len(tpp)) * np.tile(tpp, len(N))


def shapes() -> dict:
    """name -> (N, D, truth parameters of the kappa-coupled law, what it imitates)."""
    out = {}
    NP = np.array([70.4e6, 162e6, 405e6, 1.01e9, 1.41e9, 2.78e9, 6.86e9, 11.8e9])
    out["pythia"] = (NP, np.full(len(NP), 300e9), HOFFMANN, "8 sizes 70M-12B, all at 300B tokens")
    NO = [190e6, 370e6, 760e6, 1.3e9, 3.2e9, 7.3e9]
    out["olmo_k1.2"] = (*grid(NO, [20, 40, 100, 200]), {**HOFFMANN, "E": 1.75, "kappa": 1.2},
                        "6 sizes 190M-7.3B x 20-200 tokens per parameter, kappa 1.2")
    out["olmo_k0.8"] = (*grid(NO, [20, 40, 100, 200]), {**HOFFMANN, "E": 1.60, "kappa": 0.8}, "the same, kappa 0.8")
    out["big"] = (*grid([1e9, 2e9, 4e9, 7.5e9, 13e9], [10, 20, 40]), HOFFMANN, "1B-7.5B x 3 ratios, forecast 13B")
    out["cerebras20"] = (*grid(np.geomspace(1.1e8, 1.3e10, 12), [20]), HOFFMANN, "12 sizes at 20 tokens per parameter")
    NG, DG = np.logspace(7, np.log10(2.5e10), 20), np.logspace(np.log10(2e9), np.log10(5e11), 20)
    gN, gD = np.repeat(NG, 20), np.tile(DG, 20)
    rep = [50, 150, 250, 350]  # four runs repeated (seeds): 404 runs
    out["grid404"] = (np.r_[gN, gN[rep]], np.r_[gD, gD[rep]], EPOCH, "20 N (1e7-2.5e10) x 20 D + 4 repeats")
    # the dense grid is one where Chinchilla misses and a coupled law does not: the same grid, coupled truths
    out["grid404_k1.4"] = (np.r_[gN, gN[rep]], np.r_[gD, gD[rep]], {**HOFFMANN, "E": 1.80, "kappa": 1.4},
                           "the same grid, kappa 1.4")
    out["grid404_k0.6"] = (np.r_[gN, gN[rep]], np.r_[gD, gD[rep]], {**HOFFMANN, "E": 1.40, "kappa": 0.6},
                           "the same grid, kappa 0.6")
    out["runs12_4x3"] = (*grid([125e6, 350e6, 760e6, 1.3e9], [10, 20, 40]), {**HOFFMANN, "E": 1.60, "kappa": 0.8},
                         "12 runs: 4 sizes x 3 ratios, kappa 0.8")
    # DataDecide-like (Magnusson et al. 2025): 14 sizes 4M-1B, final checkpoints at about 100 tokens per parameter,
    # three seeds each (42 runs), the 1B size forecast
    ND = np.array([4e6, 6e6, 8e6, 10e6, 14e6, 16e6, 20e6, 60e6, 90e6, 150e6, 300e6, 530e6, 750e6, 1e9])
    out["datadecide"] = (np.repeat(ND, 3), 100 * np.repeat(ND, 3), {**HOFFMANN, "E": 1.80, "kappa": 1.2},
                         "14 sizes 4M-1B at 100 tokens per parameter, 3 seeds each; kappa 1.2")
    # a 12-run training table of three sizes: no rolling origin can be held out (the jackknife's case)
    out["runs12_3x4"] = (*grid([150e6, 400e6, 1e9, 2.5e9], [10, 20, 40, 80]), {**HOFFMANN, "E": 1.80, "kappa": 1.2},
                         "12 runs: 3 sizes x 4 ratios, kappa 1.2, forecast 2.5x")
    out["runs12_6x2"] = (*grid([70e6, 160e6, 410e6, 1e9, 2.8e9, 6.9e9], [20, 80]),
                         {**HOFFMANN, "E": 1.60, "kappa": 0.8}, "12 runs: 6 sizes x 2 ratios, kappa 0.8")
    N1, D1 = grid([100e6, 250e6, 500e6, 1e9, 2e9, 4e9], [10, 20, 50, 100])
    out["top1"] = (np.r_[N1, 8e9], np.r_[D1, 160e9], HOFFMANN, "6 sizes x 4 ratios, the largest size one run")
    # many sizes closer than the 0.05-decade size tolerance, and a held-out size 4x beyond them (a third export trial:
    # such ladders chained into one size group, so nothing was held out and Chinchilla answered alone)
    NC = 1e8 * 1.1 ** np.arange(24)
    out["close24_k1.4"] = (*grid(np.r_[NC, 3.6e9], [10, 40]), {**HOFFMANN, "E": 1.80, "kappa": 1.4},
                           "24 sizes 10% apart (1e8-9e8) x 2 ratios, forecast 3.6e9; kappa 1.4")
    N101 = np.r_[np.geomspace(2e7, 1e9, 101), 4e9]
    out["sizes101_k1.4"] = (np.repeat(N101, 4), np.tile([2e9, 6e9, 2e10, 6e10], len(N101)),
                            {**HOFFMANN, "E": 1.80, "kappa": 1.4}, "101 sizes 2e7-1e9 x 4 D (404 runs), forecast 4e9")
    # the OLMo ladder's own design (Bhagia et al. 2024): 5 sizes x 0.5-10x Chinchilla's 20 tokens per parameter, the
    # 1x runs trained twice (30 runs); forecasting the largest size leaves 4 training sizes, so one rolling origin
    N5, D5 = grid([190e6, 370e6, 760e6, 1.28e9, 3.17e9], [10, 20, 40, 100, 200])
    rerun = np.isclose(D5 / N5, 20)
    N5, D5 = np.r_[N5, N5[rerun]], np.r_[D5, D5[rerun]]
    out["olmo5"] = (N5, D5, HOFFMANN, "5 sizes 190M-3.2B x 10-200 tokens per parameter + 5 reruns (one origin)")
    out["olmo5_k1.2"] = (N5, D5, {**HOFFMANN, "E": 1.75, "kappa": 1.2}, "the same, kappa 1.2")
    out["olmo5_k0.8"] = (N5, D5, {**HOFFMANN, "E": 1.60, "kappa": 0.8}, "the same, kappa 0.8")
    # a tuning grid left in the table (a fifth export trial): each training run at 4 learning rates, one of them
    # the tuned run and the others 1-5% above it; the held-out runs are tuned
    out["olmo_k1.2_lr4"] = (*out["olmo_k1.2"][:3], "olmo_k1.2, each training run at 4 learning rates (3 of them 1-5% worse)")
    return out


# shapes whose training runs are swept over this many learning rates (`sweep`)
SWEPT = {"olmo_k1.2_lr4": 4}


def sweep(train: pd.DataFrame, k: int, rng) -> pd.DataFrame:
    """Each run of ``train`` at ``k`` learning rates on a grid that moves with size, one (drawn) the tuned run and the
    others 1-5% above its loss."""
    rows = []
    for _, r in train.iterrows():
        best = rng.integers(k)
        for j in range(k):
            worse = 0.0 if j == best else rng.uniform(0.01, 0.05)
            rows.append({"N": r["N"], "D": r["D"], "lr": 3e-3 * (r["N"] / 1e8) ** -0.3 * 2.0 ** (j - k // 2),
                         "loss": r["loss"] * (1.0 + worse)})
    return pd.DataFrame(rows)


def one(name, N, D, truth, seed, sigma, tmp: Path, options=()) -> dict:
    law = scalelab.laws.get("skaling")
    clean = np.asarray(law(truth, N=N, D=D), float)
    loss = clean * np.exp(sigma * np.random.default_rng(seed).standard_normal(len(N)))
    runs = pd.DataFrame({"N": N, "D": D, "loss": loss})
    test = runs["N"] == runs["N"].max()
    train, at = runs[~test], runs[test]
    fitted = sweep(train, SWEPT[name], np.random.default_rng(1000 + seed)) if name in SWEPT else train
    fitted.to_csv(tmp / "train.csv", index=False)
    at[["N", "D"]].to_csv(tmp / "targets.csv", index=False)
    out, err = io.StringIO(), io.StringIO()
    made = {}  # the Forecast the CLI call made, for its details (`jsonable`); the call itself is unchanged
    package = sys.modules["scalelab.forecast"]
    real = package.forecast

    def seen(*a, **k):
        made["fc"] = real(*a, **k)
        return made["fc"]

    t0 = time.perf_counter()
    package.forecast = seen
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli_main(["forecast", str(tmp / "train.csv"), "--at", str(tmp / "targets.csv"), "--ci", "0.9",
                           "--json", *options])
    finally:
        package.forecast = real
    seconds = time.perf_counter() - t0
    if rc != 0:
        return {"shape": name, "seed": seed, "failed": err.getvalue().strip().splitlines()[-1:]}
    js = json.loads(out.getvalue())
    pred, lo, hi = (np.array([p[k] for p in js["predictions"]]) for k in ("loss", "lo", "hi"))
    truth_at, y = clean[test.to_numpy()], at["loss"].to_numpy()
    ref = scipy_chinchilla(fitted.reset_index(drop=True), at.reset_index(drop=True), 64)
    return {"shape": name, "seed": seed, "n_train": int((~test).sum()), "n_test": int(test.sum()),
            "are": float(np.mean(np.abs(pred / truth_at - 1))), "ref_are": float(np.mean(np.abs(ref / truth_at - 1))),
            "inside": float(np.mean((lo <= y) & (y <= hi))), "all_inside": bool(np.all((lo <= y) & (y <= hi))),
            "truth_inside": float(np.mean((lo <= truth_at) & (truth_at <= hi))),
            "width": float(np.median((hi - lo) / pred)), "seconds": seconds, "laws": js["laws"],
            "warnings": js["diagnostics"]["warnings"], "y": y.tolist(), "truth": truth_at.tolist(),
            "details": jsonable(made["fc"].details) if "fc" in made else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--shapes", default="", help="comma-separated names (default: all)")
    ap.add_argument("--sigma", type=float, default=0.005)
    ap.add_argument("--jsonl")
    ap.add_argument("--group-span", type=float, default=None,
                    help="the widest group of model sizes held out together (decades; scalelab.forecast.GROUP_SPAN, "
                         "0.2); 1e9 chains every size closer than 0.05 decades into one group, as before the third "
                         "export trial")
    ap.add_argument("--sweeps", choices=("best", "all"), default=None,
                    help="pass --sweeps to the forecast (a swept shape's runs: each point's best setting, or all)")
    args = ap.parse_args(argv)
    if args.group_span is not None:
        sys.modules["scalelab.forecast"].GROUP_SPAN = args.group_span
    table = shapes()
    names = [s for s in args.shapes.split(",") if s] or list(table)
    print(f"device: {device_name()}; noise {args.sigma:.2%} per run; {args.seeds} seeds per shape")
    print(f"{'shape':12s} {'runs':>5s} {'held':>4s} {'MARE':>6s} {'SciPy':>6s} {'runs in':>8s} {'all in':>7s} "
          f"{'truth in':>8s} {'width':>6s} {'s/call':>6s}  imitates")
    rows = []
    sink = open(args.jsonl, "w") if args.jsonl else None
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            N, D, truth, what = table[name]
            options = ("--sweeps", args.sweeps) if args.sweeps else ()
            got = [one(name, N, D, truth, seed, args.sigma, Path(tmp), options) for seed in range(args.seeds)]
            for r in got:
                if sink:
                    sink.write(json.dumps(r) + "\n")
            failed = [r for r in got if "failed" in r]
            good = [r for r in got if "failed" not in r]
            rows += good
            if failed:
                print(f"{name:12s} FAILED: {failed[0]['failed']}")
            if not good:
                continue
            m = lambda k: float(np.mean([r[k] for r in good]))  # noqa: E731
            print(f"{name:12s} {good[0]['n_train']:5d} {good[0]['n_test']:4d} {100 * m('are'):5.2f}% "
                  f"{100 * m('ref_are'):5.2f}% {m('inside'):8.2f} {sum(r['all_inside'] for r in good):3d}/{len(good):<3d} "
                  f"{m('truth_inside'):8.2f} {100 * float(np.median([r['width'] for r in good])):5.2f}% "
                  f"{m('seconds'):6.1f}  {what}")
    if sink:
        sink.close()
    if rows:
        fam = sum(r["all_inside"] for r in rows)
        print(f"{'all':12s} {'':5s} {'':4s} {100 * np.mean([r['are'] for r in rows]):5.2f}% "
              f"{100 * np.mean([r['ref_are'] for r in rows]):5.2f}% {np.mean([r['inside'] for r in rows]):8.2f} "
              f"{fam:3d}/{len(rows):<3d} {np.mean([r['truth_inside'] for r in rows]):8.2f} "
              f"{100 * np.median([r['width'] for r in rows]):5.2f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
