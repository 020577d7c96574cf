"""The forecast interval's degrees of freedom: today's ``nu = K + 2`` against a Welch-Satterthwaite ``nu``
and against larger plain ``nu`` (2K + 2, 4K + 2, the normal quantile).

Rescores saved fits only (no fitting): the JSON lines of ``forecast.py --jsonl`` (public families),
``forecast_small.py --jsonl`` (small sub-tables) and ``forecast_calibration.py --jsonl`` (simulated
ladders). The Welch-Satterthwaite rule gives each part of the scale
``s^2 = s0^2 + sigma^2 + tau^2 d^2 + form^2`` its own degrees of freedom (``n - 6`` for the in-sample
``s0``, ``d_k`` for ``sigma`` and ``tau``, ``K + 1`` for the form term) and combines them as
``nu = s^4 / sum(part^2 / df)``.

    python benchmarks/forecast_dof.py --public fc.jsonl --small small.jsonl --calibration cal_sk.jsonl cal_fs.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from scalelab.forecast.calibrate import combine, t_quantile  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import public_groups, runs_covered, saved_forecasts, tables_covered  # noqa: E402

RULES = {"nu = K + 2 (today)": None, "W-S, d_k = K + 1": lambda K: K + 1.0,
         "W-S, d_k = K / 2 + 1/2": lambda K: K / 2.0 + 0.5, "W-S, d_k = 1.5": lambda K: 1.5,
         # plain degrees of freedom, larger than today's (narrower intervals): is one factor enough for every design?
         "nu = 2K + 2": ("nu", lambda K: 2.0 * K + 2.0), "nu = 4K + 2": ("nu", lambda K: 4.0 * K + 2.0),
         "normal quantile": ("nu", lambda K: 1e9)}


def interval(details: dict, rule, ci: float = 0.9, n_params: int = 6) -> tuple:
    """``(loss, lo, hi)`` at the targets under ``rule`` (None: `combine` as it is)."""
    c = combine(details, ci)
    if rule is None:
        return c["loss"], c["lo"], c["hi"]
    K = len(np.unique(np.asarray(details["origin"], int)))
    if isinstance(rule, tuple):  # ("nu", f): Student-t quantiles with nu = f(K) on today's scale
        q = t_quantile(0.5 + ci / 2.0, rule[1](K))
    else:  # Welch-Satterthwaite, the rule giving the variance parts' degrees of freedom
        n = np.asarray(details["residuals"]).shape[1]
        v0, vs = c["s0"] ** 2, c["sigma"] ** 2
        vt, vf = (c["tau"] * np.asarray(details["target_distance"], float)) ** 2, c["form"] ** 2
        nu = (v0 + vs + vt + vf) ** 2 / (v0 ** 2 / max(n - n_params, 1) + (vs + vt) ** 2 / rule(K) + vf ** 2 / (K + 1.0))
        q = np.array([t_quantile(0.5 + ci / 2.0, float(min(v, 200.0))) for v in np.atleast_1d(nu)])
    lp = np.log(c["loss"])
    return c["loss"], np.exp(lp - q * c["scale"]), np.exp(lp + q * c["scale"])


def families(rows, rule) -> str:
    """Families (tables) with every target inside, and the median relative width."""
    return tables_covered(rows, lambda details: interval(details, rule))


def coverage(rows, rule) -> str:
    """Share of new runs inside (simulated ladders), and the median relative width."""
    return runs_covered(rows, lambda details: interval(details, rule))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--public", required=True, help="forecast.py --jsonl output")
    ap.add_argument("--small", help="forecast_small.py --jsonl output")
    ap.add_argument("--calibration", nargs="*", default=[], help="forecast_calibration.py --jsonl outputs")
    args = ap.parse_args()
    final, porian = public_groups(saved_forecasts(args.public))
    small = saved_forecasts(args.small)
    cal = [saved_forecasts(p) for p in args.calibration]
    print("| rule | final-loss families | Porian Kaplan/const | small 12 / 20 runs | simulated (90%) |")
    for name, rule in RULES.items():
        sm = " / ".join(families([r for r in small if r["n"] == n], rule) for n in (12, 20)) if small else "-"
        print(f"| {name} | {families(final, rule)} | {families(porian, rule)} | {sm} | "
              f"{' / '.join(coverage(rows, rule) for rows in cal) or '-'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
