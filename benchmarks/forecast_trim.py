"""Does leaving out a ladder's smallest model sizes make `scalelab.forecast` extrapolate better?

A common advice for scaling-law fits is to drop the smallest models, whose losses bend away from
the power law. This study asks whether the rolling origins can tell when: every public family of
`benchmarks/forecast.py` is forecast again with its smallest t = 0, 1, 2, 3 model sizes left out of
the training runs (the largest size, the target, stays held out). The rolling origins hold out
the largest sizes, so origin k holds out the same runs at every t and the held-out errors line up.
Scored from the saved fits (mean ARE at the targets, %):

- ``t0``: today's forecast (no size left out);
- ``pick``: per family, the t whose honest held-out error (the origins every t shares; the weighting as `combine`'s)
  is least, then that t's forecast;
- ``pooled``: every (law, t) pair a candidate, stacked on the shared origins (the 12 with the
  least held-out error among the stable ones: the exact stacking solves at most 12);
- ``hindsight``: the best t per family.

Each family runs in its own process (a process that compiles programs for tens of table shapes
runs out of code memory on the 2-core CPU):

    python benchmarks/forecast_trim.py --jsonl trim.jsonl [--jobs 2] [--trims 0,1,2,3]
    python benchmarks/forecast_trim.py --score trim.jsonl
"""

from __future__ import annotations

import argparse
import collections
import fcntl
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, jsonable  # noqa: E402


def run_family(name: str, trims: list[int], path: str) -> None:
    """Forecast one family's largest size at each trim; one JSON line per trim appended to ``path``."""
    import forecast as bench  # benchmarks/forecast.py: the families and their split

    from scalelab.forecast import forecast, size_groups

    train, test = bench.split(bench.families()[name])
    g = size_groups(train["N"].to_numpy(), 0.05)
    y = test["loss"].to_numpy()
    for t in trims:
        part = train[g >= t].reset_index(drop=True)
        t0 = time.perf_counter()
        try:
            fc = forecast(part, test.drop(columns=["loss"]), progress=False)
        except Exception as err:  # a trim too deep for this ladder: recorded, not fatal
            row = {"family": name, "t": t, "error": str(err)}
        else:
            row = {"family": name, "t": t, "n": len(part), "y": y.tolist(), "seconds": time.perf_counter() - t0,
                   "are": float(np.mean(np.abs(fc.loss - y) / y)),
                   "details": jsonable(fc.details)}
        with open(path, "a") as fh:  # two families' processes append to one file: one whole line at a time
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(row) + "\n")
        print(f"{name:<46} t={t} " + (f"ARE {100 * row['are']:.2f}% ({row['seconds']:.0f} s)" if "are" in row
                                       else f"failed: {row['error'][:80]}"), flush=True)


def score(path: str) -> int:
    """The four rules of the module docstring on the saved fits."""
    from scalelab.forecast.agreement import stable
    from scalelab.forecast.calibrate import combine, honest_errors, stack_weights
    from scalelab.forecast.weights import choose_weights

    by = collections.defaultdict(dict)
    for line in open(path):
        r = json.loads(line)
        if "details" in r:
            by[r["family"]][r["t"]] = r
    are = lambda logp, y: float(np.mean(np.abs(np.exp(logp) - y) / y))  # noqa: E731
    out = collections.defaultdict(list)
    final = []
    for fam, d in by.items():
        if 0 not in d:
            continue
        y = np.asarray(d[0]["y"])
        K = {t: len(np.unique(d[t]["details"]["origin"])) for t in d}
        ts = sorted(t for t in d if K[t] >= 1)
        shared = min(K[t] for t in ts)
        fc, err, Es, Ls, names = {}, {}, [], [], []
        for t in ts:
            de = d[t]["details"]
            E, o = np.asarray(de["errors"]), np.asarray(de["origin"])
            m = o < shared
            fc[t] = np.log(combine(de, 0.9)["loss"])
            h = honest_errors(E[stable(E[:, m])][:, m], o[m], 0.0, choose_weights)
            err[t] = float(np.mean([np.mean(h[o[m] == k] ** 2) for k in range(shared)]))
            Es.append(E[:, m])
            Ls.append(np.asarray(de["log_targets"]))
            names += [f"{n}@{t}" for n in de["names"]]
        o = np.asarray(d[0]["details"]["origin"])
        o = o[o < shared]
        E, L = np.vstack(Es), np.vstack(Ls)
        mse = np.array([np.mean([np.mean(e[o == k] ** 2) for k in range(shared)]) for e in E])
        keep = [i for i in np.argsort(mse) if stable(E)[i]][:12]
        pooled = stack_weights(E[keep], o) @ L[keep]
        pick = min(err, key=err.get)
        row = {"t0": are(fc[0], y), "pick": are(fc[pick], y), "pooled": are(pooled, y),
               "hindsight": min(are(fc[t], y) for t in ts)}
        for k, v in row.items():
            out[k].append(v)
        final.append(not fam.startswith("porian") or "chinchilla_standard" in fam)
        print(f"{fam[:44]:<44} origins {shared}  t0 {100 * row['t0']:5.2f}%  pick t={pick} {100 * row['pick']:5.2f}%  "
              f"pooled {100 * row['pooled']:5.2f}%  per t: " + " ".join(f"{100 * are(fc[t], y):.2f}" for t in ts))
    final = np.asarray(final)
    print(f"\ndevice: {device_name()}; {len(final)} families ({final.sum()} with final losses)")
    for k, v in out.items():
        v = np.asarray(v)
        print(f"{k:<10} mean ARE {100 * v.mean():.2f}% (final-loss families {100 * v[final].mean():.2f}%)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jsonl", help="run every family (each in its own process), appending to this file")
    ap.add_argument("--family", help="run this family alone (in this process)")
    ap.add_argument("--trims", default="0,1,2,3")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--score", help="score the fits saved in this file")
    args = ap.parse_args(argv)
    if args.score:
        return score(args.score)
    if not args.jsonl:
        ap.error("give --jsonl FILE (to run) or --score FILE")
    trims = [int(t) for t in args.trims.split(",")]
    if args.family:
        run_family(args.family, trims, args.jsonl)
        return 0
    import forecast as bench

    def one(name):  # each family in a fresh process, `--jobs` at a time
        subprocess.run([sys.executable, __file__, "--family", name, "--trims", args.trims, "--jsonl", args.jsonl],
                       check=False)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, list(bench.families())))
    return score(args.jsonl)


if __name__ == "__main__":
    sys.exit(main())
