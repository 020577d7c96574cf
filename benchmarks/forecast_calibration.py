"""Coverage of `scalelab.forecast` intervals on ladders simulated from a law outside the usual set.

Each data set is a model-size ladder (``--sizes`` sizes from 3e7 parameters up, each trained at
``--ratios`` tokens per parameter) whose losses come from a *coupled* truth (a kappa != 1 Skaling
law or a Farseer law) times log-normal noise. `forecast(laws=...)` fits the candidate set on it
and forecasts one new run of the next sizes (1 to 2 size steps beyond the table, or ``--beyond``
multiples of the largest size; 20 tokens per parameter, with its own noise). Printed: the share of
new runs inside their ``--ci`` interval (nominal ``--ci``), with its binomial standard error, the
median relative width, and the mean absolute relative error of the point forecast; then the same
per distance.

    python benchmarks/forecast_calibration.py [--truth skaling|farseer] [--sets 40] [--laws auto] [--jsonl F]
    python benchmarks/forecast_calibration.py --truth farseer --without-truth   # every automatic law but the truth
    python benchmarks/forecast_calibration.py --rescore F   # today's interval rule on the saved fits
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import combine_options, device_name, jsonable, rescore_options, with_n_params  # noqa: E402

import scalelab  # noqa: E402
from scalelab.forecast import forecast  # noqa: E402

TRUTHS = {
    # kappa-coupled Chinchilla with kappa well below 1 (the re-analysis finds 0.22-0.77 on public sweeps)
    "skaling": ("skaling", {"E": 1.7, "A": 300.0, "B": 900.0, "alpha": 0.32, "beta": 0.30, "kappa": 0.7}),
    # Farseer (centred form, laws/coupled.py): irreducible loss e^0.6 = 1.82 at 1e9 parameters falling with N,
    # data term e^-1 at (1e9, 1e10 tokens), D-exponent e^-1.1 = 0.33 growing slowly with N (losses 3.8 to 1.8)
    "farseer": ("farseer", {"S": 0.6, "s": -0.08, "q": 0.0, "Q": -1.0, "B": 0.3, "b": 0.0, "E": -1.1, "A": 0.05,
                            "a": 0.0}),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--truth", default="skaling", choices=sorted(TRUTHS))
    ap.add_argument("--sets", type=int, default=40)
    ap.add_argument("--sizes", type=int, default=6)
    ap.add_argument("--ratios", default="5,20,80")
    ap.add_argument("--sigma", type=float, default=0.005, help="log-loss noise sd of every run")
    ap.add_argument("--beyond", default="2,4", help="the new runs' sizes, as multiples of the largest size (default: "
                    "1 and 2 size steps beyond)")
    ap.add_argument("--laws", default="auto")
    ap.add_argument("--without-truth", action="store_true",
                    help="the candidates 'auto' chooses on this design, less the law that generated the data (its form "
                         "then misspecified for every candidate; the screens read the design, not the losses)")
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--jsonl", help="also write each set's forecast details and new runs here (for --rescore)")
    ap.add_argument("--rescore", help="re-apply today's `combine` to the details saved by --jsonl (no fitting)")
    combine_options(ap)
    args = ap.parse_args(argv)
    if args.rescore:
        return rescore(args.rescore, args.ci, rescore_options(args))
    law, params = TRUTHS[args.truth]
    law = scalelab.laws.get(law)
    step = 2.0
    sizes = 3e7 * step ** np.arange(args.sizes)
    ratios = np.array([float(r) for r in args.ratios.split(",")])
    N = np.repeat(sizes, len(ratios))
    D = N * np.tile(ratios, len(sizes))
    factors = np.array([float(f) for f in args.beyond.split(",")])
    Nt = sizes[-1] * factors
    at = pd.DataFrame({"N": Nt, "D": 20.0 * Nt})
    truth_t = np.asarray(law(params, N=at["N"].to_numpy(), D=at["D"].to_numpy()), float)
    rng = np.random.default_rng(12345)
    if args.without_truth:  # not a rescore: a law with more parameters than the others sets how many origins fit
        args.laws = automatic(scalelab.simulate(law, params, {"N": N, "D": D}, sigma=args.sigma, seed=0), at, law.name)
    inside, widths, ares = [], [], []
    t0 = time.perf_counter()
    for s in range(args.sets):  # data sets are independent replications of the whole procedure
        runs = scalelab.simulate(law, params, {"N": N, "D": D}, sigma=args.sigma, seed=s)
        fc = forecast(runs, at, laws=args.laws, ci=args.ci, progress=False)
        new = truth_t * np.exp(args.sigma * rng.standard_normal(len(truth_t)))
        inside.extend(((fc.lo <= new) & (new <= fc.hi)).tolist())
        widths.extend(((fc.hi - fc.lo) / fc.loss).tolist())
        ares.extend((np.abs(fc.loss - new) / new).tolist())
        if args.jsonl:
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps({"truth": args.truth, "set": s, "new": new.tolist(),
                                     "details": jsonable(fc.details)}) + "\n")
        if (s + 1) % 10 == 0:
            print(f"  {s + 1} sets, coverage so far {np.mean(inside):.3f}", file=sys.stderr, flush=True)
    cov = float(np.mean(inside))
    se = float(np.sqrt(cov * (1 - cov) / len(inside)))
    print(f"device: {device_name()}")
    print(f"truth {args.truth} {params}; {args.sets} ladders of {len(N)} runs ({args.sizes} sizes x {len(ratios)} "
          f"ratios, noise sd {args.sigma}); candidates {args.laws}")
    print(f"{100 * args.ci:g}% interval coverage of new runs {args.beyond} x the largest size: {cov:.3f} (se {se:.3f}); "
          f"median relative width {100 * np.median(widths):.2f}%; mean ARE {100 * np.mean(ares):.2f}%; "
          f"{time.perf_counter() - t0:.0f} s")
    by = np.reshape(inside, (args.sets, len(factors))).mean(axis=0)
    w_by = np.median(np.reshape(widths, (args.sets, len(factors))), axis=0)
    e_by = np.mean(np.reshape(ares, (args.sets, len(factors))), axis=0)
    print("by distance: " + "; ".join(f"{f:g}x {c:.3f} ({100 * w:.1f}% wide, ARE {100 * e:.2f}%)"
                                      for f, c, w, e in zip(factors, by, w_by, e_by)))
    return 0


def automatic(runs, at, drop: str) -> list:
    """The laws `forecast(runs, at)` fits as its automatic candidates (`candidate_laws.automatic`: its screens read the
    table's design and the targets, not the losses), less ``drop``."""
    from scalelab.forecast.candidate_laws import automatic as screens, candidates
    from scalelab.forecast.target_table import target_frame

    table = scalelab.runs.read(runs)
    return [law.name for law in screens(table, target_frame(at, like=table), candidates(table))[0] if law.name != drop]


def rescore(path: str, ci: float, options: dict | None = None) -> int:
    """Coverage, width and ARE of today's `scalelab.forecast.calibrate.combine` on saved details; then whether the
    held-out part of the scale is estimated right: the rms of the rolling origins' honest errors per held-out
    distance, pooled over the sets, and per target the rms error against ``sqrt(mean(s0^2 + sigma^2 + tau^2 d^2))``,
    the scale without the form term (thirty-first session)."""
    from scalelab.forecast.calibrate import combine

    rows = [json.loads(line) for line in open(path)]
    inside, widths, ares, errors, parts, honest = [], [], [], [], [], []
    for r in rows:
        c = combine(with_n_params(r["details"]), ci, **(options or {}))
        # the errors the scale was calibrated on (`combine`'s own)
        honest.extend(zip(np.round(np.asarray(r["details"]["distance"], float), 2), c["honest"]))
        new = np.asarray(r["new"])
        inside.extend(((c["lo"] <= new) & (new <= c["hi"])).tolist())
        widths.extend(((c["hi"] - c["lo"]) / c["loss"]).tolist())
        ares.extend((np.abs(c["loss"] - new) / new).tolist())
        errors.append(np.log(new / c["loss"]))  # [targets] log error of the point forecast
        d = np.asarray(r["details"]["target_distance"], float)
        parts.append(np.stack([c["s0"], c["sigma"], c["tau"] * d, c["form"], c["scale"]]))  # [5, targets]
    cov = float(np.mean(inside))
    print(f"{path}: {len(rows)} sets ({', '.join(sorted({r['truth'] for r in rows}))}); {100 * ci:g}% coverage "
          f"{cov:.3f} (se {np.sqrt(cov * (1 - cov) / len(inside)):.3f}); median relative width "
          f"{100 * np.median(widths):.2f}%; mean ARE {100 * np.mean(ares):.2f}%")
    e, P = np.array(errors), np.array(parts)  # [sets, targets], [sets, 5, targets]
    z = e / P[:, 4]
    share = np.mean(P[:, :4] ** 2, axis=0) / np.mean(P[:, 4] ** 2, axis=0)  # [4, targets]
    for t in range(e.shape[1]):  # where the coverage comes from: the error's bias and spread against the scale
        print(f"  target {t}: log error mean {e[:, t].mean():+.4f}, sd {e[:, t].std():.4f}; median scale "
              f"{np.median(P[:, 4, t]):.4f} (variance shares s0 {share[0, t]:.2f}, sigma {share[1, t]:.2f}, "
              f"tau d {share[2, t]:.2f}, form {share[3, t]:.2f}); z = error / scale: mean {z[:, t].mean():+.2f}, "
              f"sd {z[:, t].std():.2f}")
    h = np.array(honest, float).reshape(-1, 2)
    print("  the origins' honest errors, rms by held-out distance: " + ", ".join(
        f"{dd:.2f} decades {100 * np.sqrt(np.mean(h[h[:, 0] == dd, 1] ** 2)):.2f}% (n {int(np.sum(h[:, 0] == dd))})"
        for dd in np.unique(h[:, 0])))
    for t in range(e.shape[1]):
        model = np.sqrt(np.mean(P[:, 0, t] ** 2 + P[:, 1, t] ** 2 + P[:, 2, t] ** 2))
        print(f"  target {t}: rms log error {100 * np.sqrt(np.mean(e[:, t] ** 2)):.2f}% against the scale without "
              f"the form term {100 * model:.2f}% (rms form term {100 * np.sqrt(np.mean(P[:, 3, t] ** 2)):.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
