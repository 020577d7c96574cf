"""How often a warning for runs moderately off the fit would fire on real ladders (thirty-third session).

A tenth export trial found that one partial run 1.05-1.9x above the law (under the forecast's 2x off-fit limit)
widens a forecast's intervals 2-4x with no word. A warning was considered for runs more than ``--floor`` (5%) and
``--times`` (8) times the runs' scatter (1.4826 MAD of the stacked fit's log residuals) off the fit, at most a tenth of
the table, as `scalelab.forecast` leaves out runs more than 2x off. This counts the saved tables it would fire on,
and how far off their flagged runs lie: real ladders' own runs, or partial ones?

Rescores saved fits only (no fitting): the JSON lines of ``forecast.py --jsonl`` or ``forecast_small.py --jsonl``.

    python benchmarks/forecast.py --no-ref --jobs 2 --jsonl fc.jsonl   # the fits (about 10 min on 2 cores)
    python benchmarks/forecast_off_fit.py fc.jsonl [small.jsonl ...] [--floor 0.05] [--times 8]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from scalelab.forecast.calibrate import combine, robust_scale

OFF_FIT = 2.0  # the forecast's own limit: runs farther off are left out (`scalelab.forecast`, off_fit)
SHARE = 0.1  # at most this share of a table's runs


def flagged(details: dict, floor: float, times: float) -> np.ndarray:
    """The runs the considered warning would name: off the stacked fit by more than ``floor`` (relative) and ``times``
    the residuals' robust scale, not beyond the 2x limit; none when they are more than a tenth of the runs."""
    w = combine(details)["weights"]
    r = w @ np.asarray(details["residuals"], float)
    off = (np.abs(r) > max(np.log1p(floor), times * robust_scale(r))) & (np.abs(r) <= np.log(OFF_FIT))
    return off if off.sum() <= SHARE * len(r) else np.zeros(len(r), bool), r


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="--jsonl output of forecast.py or forecast_small.py")
    ap.add_argument("--floor", type=float, default=0.05, help="relative distance off the fit, at least")
    ap.add_argument("--times", type=float, default=8.0, help="times the residuals' robust scale, at least")
    args = ap.parse_args()
    for path in args.files:
        rows = [json.loads(line) for line in open(path) if line.strip()]
        rows = [r for r in rows if r.get("details") and "residuals" in r["details"]]
        fired = 0
        for r in rows:
            off, res = flagged(r["details"], args.floor, args.times)
            if off.any():
                fired += 1
                print(f"  {str(r.get('family', r.get('name', '?')))[:48]:48s} {len(res):4d} runs: {int(off.sum())} "
                      f"flagged, {', '.join(f'{x:.3g}x' for x in np.sort(np.exp(np.abs(res[off])))[:5])} off")
        print(f"{path}: the warning would fire on {fired} of {len(rows)} tables")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
