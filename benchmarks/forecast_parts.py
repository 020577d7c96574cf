"""What each public family's forecast interval is made of: the parts of its scale and how far the truth fell.

Rescores saved fits only (no fitting): the JSON lines of ``forecast.py --jsonl``. For each family, `combine` (the
forecast's one pure step) is applied to the saved ``details`` and the scale ``s^2 = s0^2 + sigma^2 + tau^2 d^2 +
form^2`` is shown part by part (medians over the family's targets, in % of log loss): ``s0`` the runs' scatter near
the target, ``sigma`` the held-out discrepancy that does not grow with distance, ``tau d`` the part that does, at the
target's distance ``d``, ``form`` the candidates' weighted disagreement. Beside them: the origins ``K``, the Student-t
degrees of freedom ``nu``, the mean absolute relative error, the median relative width of the 90% interval and
``err/hw``, the largest ratio of a target's log error to its interval's half width (over 1: outside).

With ``--origins``: per family, the root-mean-square honest held-out error of each rolling origin (k = 0 holds out
the training table's largest size group; each origin's errors combined with weights fitted on the others, as the
scale is calibrated on them) and its median distance, beside the target's own RMS error: whether the origins' errors
say how far the target will miss.

    python benchmarks/forecast.py --no-ref --jobs 2 --jsonl fc.jsonl   # the fits (about 10 min on 2 cores)
    python benchmarks/forecast_parts.py fc.jsonl [--origins]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from scalelab.forecast.calibrate import combine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import public_groups, saved_forecasts  # noqa: E402


def parts(row: dict, ci: float = 0.9) -> dict:
    """The interval's parts for one saved family (percent of log loss, medians over its targets)."""
    d = row["details"]
    c = combine(d, ci)
    y = np.asarray(row["y"], float)
    dist = np.asarray(d["target_distance"], float)
    half = (np.log(c["hi"]) - np.log(c["lo"])) / 2.0
    err = np.abs(np.log(y) - np.log(c["loss"]))
    pct = lambda v: 100.0 * float(np.median(v))  # noqa: E731
    return {"K": len(np.unique(d["origin"])), "nu": c["nu"], "s0": pct(c["s0"]), "sigma": pct(c["sigma"]),
            "tau_d": pct(c["tau"] * dist), "form": pct(c["form"]), "scale": pct(c["scale"]),
            "are": 100.0 * float(np.mean(np.abs(c["loss"] / y - 1.0))),
            "width": pct((c["hi"] - c["lo"]) / c["loss"]), "err_hw": float(np.max(err / half))}


def origins(row: dict, ci: float = 0.9) -> str:
    """One family's line: the target's RMS log error (%) and distance, then each origin's honest RMS and distance."""
    d = row["details"]
    o, dist = np.asarray(d["origin"], int), np.asarray(d["distance"], float)
    c = combine(d, ci)
    h = c["honest"]  # the errors the scale is calibrated on
    target = 100.0 * np.sqrt(np.mean((np.log(np.asarray(row["y"], float)) - np.log(c["loss"])) ** 2))
    parts = [f"k{k} {100.0 * np.sqrt(np.mean(h[o == k] ** 2)):5.2f}% at {np.median(dist[o == k]):.2f}"
             for k in np.unique(o)]
    return (f"{row['family'][:44]:44s} target {target:5.2f}% at {np.median(d['target_distance']):.2f} | "
            + " | ".join(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jsonl", help="forecast.py --jsonl output (saved fits with details)")
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--origins", action="store_true", help="each origin's honest RMS error beside the target's")
    args = ap.parse_args()
    final, porian = public_groups(saved_forecasts(args.jsonl))
    if args.origins:
        for r in final + porian:
            print(origins(r, args.ci))
        return
    cols = ("K", "nu", "s0", "sigma", "tau_d", "form", "scale", "are", "width", "err_hw")
    print(f"{'family':44s} " + " ".join(f"{c:>6s}" for c in cols))
    for group, rows in (("final-loss families", final), ("Porian's early readouts", porian)):
        got = [parts(r, args.ci) for r in rows]
        for r, p in zip(rows, got):
            print(f"{r['family'][:44]:44s} " + " ".join(f"{p[c]:6.0f}" if c in ("K", "nu") else f"{p[c]:6.2f}"
                                                        for c in cols))
        if got:
            med = {c: float(np.median([p[c] for p in got])) for c in cols}
            print(f"{'  median, ' + group:44s} " + " ".join(f"{med[c]:6.2f}" for c in cols))


if __name__ == "__main__":
    main()
