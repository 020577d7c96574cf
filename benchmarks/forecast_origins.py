"""Are held-out sizes harder than the forecast itself? Origin errors against the target's, on saved fits.

Rolling origin k fits every size but the k largest and forecasts them. If a table's own forecast
(every size fitted) were much more accurate than the origin held out nearest to it, the interval
calibrated on the origins would over-cover. For each saved forecast (the ``--jsonl`` files of
`benchmarks/forecast.py`, `forecast_small.py` and `forecast_calibration.py`) this prints, per file,
the median over tables of

* ``rms(origin 1) / rms(origin 2)``: the honest held-out log errors (`combine`'s, each
  origin's weights fitted on the others by the rule `combine` chooses) of the first origin over the second's;
* ``rms(target) / rms(origin 1)``: the log error of today's forecast at the targets (the truth
  saved beside the fits: ``y``, or ``new`` for a simulated new run) over the first origin's.

    python benchmarks/forecast_origins.py fc.jsonl small.jsonl cal_sk.jsonl cal_fs.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from scalelab.forecast.calibrate import combine


def ratios(row: dict) -> tuple[float, float] | None:
    """``(rms origin 1 / rms origin 2, rms target / rms origin 1)`` of one saved forecast (None: < 2 origins)."""
    d = row["details"]
    origin = np.asarray(d["origin"], int)
    ks = np.unique(origin)
    if len(ks) < 2:
        return None
    c = combine(d, 0.9)
    e = c["honest"]  # the errors the scale is calibrated on
    rms = [float(np.sqrt(np.mean(e[origin == k] ** 2))) for k in ks[:2]]
    truth = np.asarray(row["y"] if "y" in row else row["new"], float)
    err = np.log(truth / c["loss"])
    return rms[0] / rms[1], float(np.sqrt(np.mean(err ** 2))) / rms[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="--jsonl files of the forecast benchmarks")
    args = ap.parse_args(argv)
    print("| file | tables | rms(origin 1) / rms(origin 2) | rms(target) / rms(origin 1) |")
    print("|---|---|---|---|")
    for path in args.files:
        got = [r for r in (ratios(json.loads(line)) for line in open(path)) if r is not None]
        a = np.array(got)
        print(f"| {path} | {len(a)} | {np.median(a[:, 0]):.2f} | {np.median(a[:, 1]):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
