"""Other ways to turn the rolling origins into a point forecast, rescored on saved fits (no refitting).

`scalelab.forecast` stacks the candidate laws on their held-out errors, every origin counting equally.
For each saved forecast (the ``--jsonl`` files of `benchmarks/forecast.py`, `forecast_small.py` and
`forecast_calibration.py`) this prints the mean absolute relative error at the targets of

* stacking with origin k (1 = the largest size held out) weighted ``k^-p`` for several p, and with the
  first origin alone (``p = inf``): does the origin nearest the full table deserve more say?
* the single law with the smallest held-out error (each origin counting equally), as ``scalelab compare``
  ranks laws on a table's own largest runs: choosing instead of weighting;
* the best single law in hindsight (its error at the targets): a bound no rule that sees only the table
  can be expected to reach.

Weighting origin k by ``f_k`` in the stacking objective ``sum_j omega_j (w . e_j)^2`` is the same as scaling
its errors by ``sqrt(f_k)``, so `stack_weights` is called as `combine` calls it, on scaled errors.

    python benchmarks/forecast_rules.py fc.jsonl small.jsonl cal_sk.jsonl cal_fs.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from scalelab.forecast.calibrate import combine, stable, stack_weights

POWERS = (0.0, 0.5, 1.0, 2.0, np.inf)


def rules(row: dict) -> dict[str, float] | None:
    """Mean ARE at the targets of each rule for one saved forecast (None: no origin was held out)."""
    d = row["details"]
    E, origin = np.asarray(d["errors"], float), np.asarray(d["origin"], int)
    if not len(origin):
        return None
    logs = np.asarray(d["log_targets"], float)
    truth = np.asarray(row["y"] if "y" in row else row["new"], float)
    are = lambda log_pred: float(np.mean(np.abs(np.exp(log_pred) - truth) / truth))  # noqa: E731
    out = {}
    ok = stable(E)
    for p in POWERS:
        f = (origin == origin.min()).astype(float) if np.isinf(p) else (origin - origin.min() + 1.0) ** -p
        keep = f > 0
        w = np.zeros(len(E))
        w[ok] = stack_weights(E[ok][:, keep] * np.sqrt(f[keep]), origin[keep])
        out[f"stack p={p:g}"] = are(w @ logs)
    assert abs(out["stack p=0"] - are(np.log(combine(d, 0.9)["loss"]))) < 1e-9  # p = 0 is forecast's own rule
    ks = np.unique(origin)
    score = sum(np.mean(E[:, origin == k] ** 2, axis=1) for k in ks) / len(ks)
    out["pick"] = are(logs[int(np.argmin(score))])
    out["hindsight"] = min(are(lg) for lg in logs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="--jsonl files of the forecast benchmarks")
    args = ap.parse_args(argv)
    names = [f"stack p={p:g}" for p in POWERS] + ["pick", "hindsight"]
    print("mean ARE (%) at the targets; p = 0 is `forecast`'s rule (every origin equal), inf the first origin alone")
    print("| file | tables | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for path in args.files:
        rows = [json.loads(line) for line in open(path)]
        # the public families (forecast.py's rows carry "family"): also the final-loss ones apart from Porian's
        # Kaplan-decay / constant-LR configurations (losses read early in a run), as forecast.py --rescore splits
        early = lambda r: r.get("family", "").startswith("porian") and "chinchilla_standard" not in r["family"]  # noqa: E731
        parts = [(path, rows)] + ([(f"{path} (final-loss)", [r for r in rows if not early(r)])]
                                  if any(early(r) for r in rows) else [])
        for label, part in parts:
            got = [r for r in map(rules, part) if r is not None]
            print(f"| {label} | {len(got)} | " + " | ".join(f"{100 * np.mean([g[n] for g in got]):.2f}" for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
