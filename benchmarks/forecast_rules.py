"""Other ways to turn the rolling origins into a point forecast, rescored on saved fits (no refitting).

`scalelab.forecast` weighs the candidate laws on their held-out errors, every origin counting equally: by stacking
or by pseudo-BMA, whichever rule's honest errors are smaller (since the thirty-first session; stacking alone before).
The rules below that change the stacking start from stacking alone (``stack p=0``). For each saved forecast (the
``--jsonl`` files of `benchmarks/forecast.py`, `forecast_small.py` and `forecast_calibration.py`) this prints the mean
absolute relative error at the targets of

* stacking with origin k (1 = the largest size held out) weighted ``k^-p`` for several p, and with the
  first origin alone (``p = inf``): does the origin nearest the full table deserve more say?
* the single law with the smallest held-out error (each origin counting equally), as ``scalelab compare``
  ranks laws on a table's own largest runs: choosing instead of weighting;
* stacking with the held-out trend removed: the honest stacked held-out errors (`honest_errors`, each origin
  counting equally) regressed on the extrapolation distance through 0, ``e ~ b d``, and the forecast moved by
  ``-b d*`` at the target's distance ``d*``: a bias that every candidate shares (all of them under-predicting
  the largest sizes) is out of the simplex weights' reach; also only where two or more origins agree on the
  trend's sign (their mean honest errors), a gate against a trend that one origin's luck makes;
* pseudo-BMA and pseudo-BMA+ (Yao et al. 2018, "Using stacking to average Bayesian predictive
  distributions"), the other weighting the issue names: ``w_l ~ exp(elpd_l)``, each origin one pointwise
  term, the law's held-out log errors read as ``Normal(0, s_l^2)`` with ``s_l^2`` its mean squared error over
  the origins; pseudo-BMA+ averages the weights over Bayesian-bootstrap draws of the origins (Dirichlet(1)).
  Its interval is `combine`'s with these weights (``weigh=``: the honest errors use them too);
* ``chosen``, today's rule (thirty-first session): stacking or pseudo-BMA, whichever's honest held-out errors are
  smaller, the weighting itself chosen by extrapolation (`scalelab.forecast.weights.chosen_rule`). Each rule's weights
  are fitted on all origins but one and scored on the one left out, each origin counting equally; with one origin
  stacking answers. Where the truth is close to one candidate pseudo-BMA, a soft choice of the best law, should win;
  where every law misses in its own way, stacking; the origins are asked which case a table is;
* the laws blind to an input that other candidates read left out (on a MoE table with ``E``, Kaplan's and
  Gadre's laws, which read N and D only; on a repeated-data table with ``U_D``, all but Muennighoff's): a law
  that ignores the experts cannot tell the targets' expert counts apart;
* ``no kaplan`` (thirty-second session): today's rule with Kaplan's law no candidate (its rows dropped; where it
  is not a candidate, today's figure). It has no irreducible loss, so it extrapolates below the others, and on
  simulated ladders at 1% noise its weight (0.15 on average, from noisy origins) made most of the chosen forecast's
  bias;
* the best single law in hindsight (its error at the targets): a bound no rule that sees only the table
  can be expected to reach.

Weighting origin k by ``f_k`` in the stacking objective ``sum_j omega_j (w . e_j)^2`` is the same as scaling
its errors by ``sqrt(f_k)``, so `stack_weights` is called as `combine` calls it, on scaled errors.

    python benchmarks/forecast_rules.py fc.jsonl small.jsonl cal_sk.jsonl cal_fs.jsonl
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import laws_kept, saved_forecasts  # noqa: E402

from scalelab import laws as _laws  # noqa: E402
from scalelab.forecast.agreement import stable  # noqa: E402
from scalelab.forecast.calibrate import combine  # noqa: E402
from scalelab.forecast.weights import honest_errors, pseudo_bma, stack_weights  # noqa: E402

POWERS = (0.0, 0.5, 1.0, 2.0, np.inf)


def pseudo_bma_plus(errors, origin, shrink=0.0):
    """`pseudo_bma` with 1,000 Bayesian-bootstrap draws (pseudo-BMA+)."""
    return pseudo_bma(errors, origin, shrink, draws=1000)


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
    c = combine(d, 0.9, weigh=stack_weights)  # stacking alone (today's rule is the column "chosen")
    ok = stable(E) & ~np.isin(d["names"], c["strayed"] + c["unsettled"])  # the laws forecast stacks
    for p in POWERS:
        f = (origin == origin.min()).astype(float) if np.isinf(p) else (origin - origin.min() + 1.0) ** -p
        keep = f > 0
        w = np.zeros(len(E))
        w[ok] = stack_weights(E[ok][:, keep] * np.sqrt(f[keep]), origin[keep])
        out[f"stack p={p:g}"] = are(w @ logs)
    assert abs(out["stack p=0"] - are(np.log(c["loss"]))) < 1e-9  # p = 0 is stacking as forecast stacks
    used = c["weights"] > 0
    e, dist = honest_errors(E[used], origin), np.asarray(d["distance"], float)
    omega = 1.0 / np.bincount(origin)[origin]  # each origin counts equally
    b = np.sum(omega * e * dist) / np.sum(omega * dist ** 2)  # log error per decade beyond the training runs
    shift = np.exp(-b * np.asarray(d["target_distance"], float))
    out["trend"] = are(np.log(c["loss"] * shift))
    # gated: the trend removed only where at least two origins agree on its sign (their mean honest errors)
    means = np.array([np.mean(e[origin == k]) for k in np.unique(origin)])
    agreed = len(means) >= 2 and (np.all(means > 0) or np.all(means < 0))
    out["trend if origins agree"] = out["trend"] if agreed else out["stack p=0"]
    for key, (lo, hi) in {"": (c["lo"], c["hi"]), "trend ": (c["lo"] * shift, c["hi"] * shift)}.items():
        inside = (lo <= truth) & (truth <= hi)  # the interval moved with its centre, its scale as calibrated
        out[f"{key}covers all"], out[f"{key}covered"] = float(inside.all()), float(inside.mean())
    ks = np.unique(origin)
    score = sum(np.mean(E[:, origin == k] ** 2, axis=1) for k in ks) / len(ks)
    out["pick"] = are(logs[int(np.argmin(score))])
    for key, weigh in (("pseudo-BMA", pseudo_bma), ("pseudo-BMA+", pseudo_bma_plus), ("chosen", None)):
        b = combine(d, 0.9, weigh=weigh)
        inside = (b["lo"] <= truth) & (truth <= b["hi"])
        out[key] = are(np.log(b["loss"]))
        out[f"{key} covers all"], out[f"{key} covered"] = float(inside.all()), float(inside.mean())
        out[f"{key} width"] = float(np.median((b["hi"] - b["lo"]) / b["loss"]))
    out["width"] = float(np.median((c["hi"] - c["lo"]) / c["loss"]))
    reads = [set(_laws.get(nm).inputs) - {"N", "D", "C"} for nm in d["names"]]
    informed = np.array([bool(r) for r in reads])
    if informed.any() and not informed.all():  # some laws read an input (E, U_D) that the others ignore
        b = combine(laws_kept(d, informed), 0.9, weigh=stack_weights)
        inside = (b["lo"] <= truth) & (truth <= b["hi"])
        out["informed"] = {"today": out["stack p=0"], "are": are(np.log(b["loss"])), "covers all": float(inside.all()),
                           "width": float(np.median((b["hi"] - b["lo"]) / b["loss"])), "today covers all":
                           out["covers all"], "today width": out["width"]}
    kaplan = np.asarray(d["names"]) == "kaplan"
    if kaplan.any() and not kaplan.all():  # Kaplan's law (no irreducible loss) no candidate; today's rule otherwise
        b = combine(laws_kept(d, ~kaplan), 0.9)
        out["no kaplan"] = are(np.log(b["loss"]))
    out["hindsight"] = min(are(lg) for lg in logs)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="--jsonl files of the forecast benchmarks")
    ap.add_argument("--per-table", action="store_true", help="also print each family's ARE with stacking, with the "
                    "trend removed, with pseudo-BMA weights and with today's rule (chosen by honest error)")
    args = ap.parse_args(argv)
    names = [f"stack p={p:g}" for p in POWERS] + ["trend", "trend if origins agree", "pick", "pseudo-BMA",
                                                   "pseudo-BMA+", "chosen", "no kaplan", "hindsight"]
    print("mean ARE (%) at the targets; p = 0 is stacking as `forecast` stacks (every origin equal), inf the first "
          "origin alone; chosen is `forecast`'s rule")
    cover, weighed, blind = {}, {}, []
    print("| file | tables | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for path in args.files:
        # every rule scored once per saved forecast (each refits nothing, but pseudo-BMA+ draws 1,000 weights)
        scored = [(r, rules(r)) for r in saved_forecasts(path)]
        scored = [(r, g) for r, g in scored if g is not None]
        # the public families (forecast.py's rows carry "family"): also the final-loss ones apart from Porian's
        # Kaplan-decay / constant-LR configurations (losses read early in a run), as forecast.py --rescore splits
        early = lambda r: r.get("family", "").startswith("porian") and "chinchilla_standard" not in r["family"]  # noqa: E731
        parts = [(path, scored)] + ([(f"{path} (final-loss)", [(r, g) for r, g in scored if not early(r)])]
                                    if any(early(r) for r, _ in scored) else [])
        if args.per_table and scored and "family" in scored[0][0]:
            for r, g in scored:
                print(f"|   {r['family']} | 1 | {100 * g['stack p=0']:.2f} -> trend {100 * g['trend']:.2f}, "
                      f"pseudo-BMA {100 * g['pseudo-BMA']:.2f} (covers all: {g['covers all']:.0f} -> "
                      f"{g['pseudo-BMA covers all']:.0f}), chosen {100 * g['chosen']:.2f} (covers all: "
                      f"{g['chosen covers all']:.0f}) |")
        blind += [(r.get("family", path), g["informed"]) for r, g in scored if "informed" in g]
        for label, part in parts:
            got = [g for _, g in part]
            print(f"| {label} | {len(got)} | " + " | ".join(f"{100 * np.mean([g.get(n, g['chosen']) for g in got]):.2f}"
                                                            for n in names) + " |")
            cover[label] = [np.mean([g[n] for g in got]) for n in ("covers all", "trend covers all", "covered",
                                                                    "trend covered")]
            weighed[label] = [f([g[f"{rule}{n}"] for g in got])
                              for rule in ("", "pseudo-BMA ", "pseudo-BMA+ ", "chosen ")
                              for n, f in (("covers all", np.mean), ("covered", np.mean), ("width", np.median))]
    print("\n90% intervals (stacking's) and the same intervals moved with the trend-removed centre:")
    print("| file | tables with every target inside: stacking | with the trend removed | targets inside: stacking | "
          "with the trend removed |")
    print("|---|---|---|---|---|")
    for label, v in cover.items():
        print(f"| {label} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    print("\nLaws blind to an input other candidates read, left out (tables where some law reads E or U_D): ARE, every "
          "target inside, median width, stacking all -> stacking without them")
    for family, i in blind:
        print(f"|   {family} | {100 * i['today']:.2f}% -> {100 * i['are']:.2f}% | {i['today covers all']:.0f} -> "
              f"{i['covers all']:.0f} | {100 * i['today width']:.1f}% -> {100 * i['width']:.1f}% |")
    print("\n90% intervals with stacking's weights, pseudo-BMA's, and the rule chosen by honest error (today): "
          "share of tables with every target inside, share of targets inside, median relative width")
    print("| file | stacking | | | pseudo-BMA | | | pseudo-BMA+ | | | chosen | | |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, v in weighed.items():
        print(f"| {label} | " + " | ".join(f"{100 * x:.2f}%" if i % 3 == 2 else f"{x:.3f}" for i, x in enumerate(v)) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
