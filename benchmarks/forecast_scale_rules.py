"""Two more ways to build the forecast interval's scale, rescored on saved fits (no refitting).

`scalelab.forecast.combine` builds ``s^2 = s0^2 + sigma^2 + tau^2 d^2 + f^2 / K``: the run-to-run scatter ``s0``,
the held-out discrepancy ``sigma`` and per-decade error ``tau`` fitted on the rolling origins' honest errors, and
the laws' disagreement ``f`` at the target over K origins. The rules here change one assumption each:

* **form as a floor** (``s^2 = s0^2 + max(sigma^2 + tau^2 d^2, f^2 / K)``): the origins' errors and the laws'
  disagreement are two measures of one thing, the error of the law's form beyond the table, so the larger
  should answer instead of their sum; also with the whole spread ``f^2`` as the floor (``floor, whole spread``);
* **distance relative to the training span** (``d / span``, span = decades of N the training runs cover, at least
  0.3): a power law fitted over a longer lever arm extrapolates a decade better (regression leverage), and every
  origin trains on fewer sizes than the full table does; ``tau`` is then per training span, not per decade;
* **beyond the origins' reach** (twelfth session): a target farther out than every held-out run (``d* > r``, r the
  largest held-out distance) counts ``d* x d* / r`` decades, the growth beyond what the origins measured being unknown;
* **one origin, a heavier prior** (twelfth session): with a single origin the prior counts as three origins.
* **the posterior mean of the scale** (twenty-first session): ``sigma^2`` and ``tau^2`` averaged over their penalised
  likelihood instead of taken at its maximum;
* **no one-ratio floor** (before the twenty-second session): today's form term is at least the candidates' whole
  disagreement (equal weights) on a ladder at one tokens per parameter (`combine`'s ``one_ratio``); this row drops it;
* **a smaller or lighter prior** (twenty-fifth session): the prior's error growth ``tau_prior`` at 0.0075, 0.005 or
  0.003 per decade instead of 0.01, or worth half an origin instead of one (``prior_weight`` 0.5);
* **a prior tied to the scatter** (eighteenth session): the prior's error growth per decade ``tau_prior`` is ``ratio x s0``
  of each target (the runs' own scatter near it) instead of 0.01; each target is then combined alone, so the row
  "today, target by target" checks that cutting the targets apart changes nothing else;
* **one origin without the floor** (before the thirty-first session): today, with a single origin the form term is at
  least the candidates' whole disagreement, as with none; this row drops that floor;
* **degrees of freedom per part** (thirty-first session): the Student-t quantile's ``nu`` by Welch and Satterthwaite,
  ``s0^2`` counting with its own runs' degrees of freedom and the held-out part with today's ``K + prior + 1``;
* **Kaplan's law no candidate** (thirty-second session): its rows dropped from the saved fits; it has no irreducible
  loss, and its disagreement with the other laws is much of the form term;
* **a prior on the level** (twenty-ninth session): one or two origins measure the held-out discrepancy ``sigma`` on one
  or two sizes, which a ladder may forecast well by chance and miss at the next; a one-sided prior that ``sigma^2`` is
  ``level^2`` (an observation at distance 0 worth ``weight / K`` origins) raises ``sigma`` where the origins show less,
  on every table or on tables of one origin only; or its extra variance ramped in with the target's distance beyond
  the table (0 inside, all of it from ``reach`` decades out), so that an interpolated target keeps today's interval;
  at a level of 2%, or 1.5% and 1% (thirty-second session).

A second table bounds every rule of this kind: today's interval scaled by one factor for all tables, chosen in hindsight,
with the share of tables it covers and its median width. Each is printed next to today's rule on the same fits: families (tables) with every target inside the interval and
the median relative width, and for the simulated ladders the share of new runs inside.

    python benchmarks/forecast_scale_rules.py --public fc.jsonl --unseen unseen.jsonl --small small.jsonl \\
        --calibration cal_sk6.jsonl cal_fs6.jsonl cal_sk8.jsonl cal_fs8.jsonl [--farther h2.jsonl] [--shapes F]
        [--only WORDS]

The files are those of ``forecast.py --jsonl`` (public families; ``--unseen --jsonl`` for the GPT-3 / OPT ones),
``forecast_small.py --jsonl`` and ``forecast_calibration.py --jsonl``; ``--farther`` takes ``forecast.py --hold-out 2
--jsonl``'s (the two largest sizes forecast) and adds its final-loss and Porian columns; ``--shapes`` takes
``forecast_shapes.py --jsonl``'s (the private benchmark's shapes, refitted by its exact CLI call) and adds a column.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

from scalelab.forecast.calibrate import (calibrate_scale, combine, local_weights, scale_likelihood,  # noqa: E402
                                         size_groups, size_weights, t_quantile)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import laws_kept, public_groups, runs_covered, saved_forecasts, tables_covered  # noqa: E402


def combined(**options):
    """`combine` with ``options`` in place of its defaults (none: today's interval)."""
    def rule(details: dict, ci: float) -> tuple:
        c = combine(details, ci, **options)
        return c["loss"], c["lo"], c["hi"]
    return rule


today = combined()
no_one_ratio_floor = combined(one_ratio=None)  # before the twenty-second session: no floor on a one-ratio ladder's form


def floor_rule(whole: bool):
    """The interval with the form term as a floor on the held-out part of the scale (``whole``: the whole spread)."""
    def rule(details: dict, ci: float) -> tuple:
        c = combine(details, ci)
        K = max(len(np.unique(np.asarray(details["origin"], int))), 1)
        held = c["sigma"] ** 2 + (c["tau"] * np.asarray(details["target_distance"], float)) ** 2
        form = c["form"] ** 2 * (K if whole else 1.0)  # combine's form is the spread / sqrt(K)
        scale = np.sqrt(c["s0"] ** 2 + np.maximum(held, form))
        q = t_quantile(0.5 + ci / 2.0, c["nu"])
        lp = np.log(c["loss"])
        return c["loss"], np.exp(lp - q * scale), np.exp(lp + q * scale)
    return rule


def relative_details(details: dict, floor: float = 0.3) -> dict:
    """``details`` with every held-out and target distance divided by its training runs' span in decades of N."""
    d = copy.deepcopy(details)
    z = np.asarray(d["run_size"], float)
    groups = size_groups(10 ** z, 0.05)
    top = groups.max()
    origin = np.asarray(d["origin"], int)
    span = lambda train: max(float(np.ptp(z[train])), floor)  # noqa: E731
    dist = np.asarray(d["distance"], float).copy()
    for k in np.unique(origin):  # origin k (0-based) trains on all but the k + 1 largest size groups
        dist[origin == k] /= span(groups <= top - (k + 1))
    d["distance"] = dist
    d["target_distance"] = np.asarray(d["target_distance"], float) / span(np.ones(len(z), bool))
    return d


def relative_rule(details: dict, ci: float) -> tuple:
    return today(relative_details(details), ci)


def reach_rule(details: dict, ci: float) -> tuple:
    """Targets beyond the farthest held-out run count ``d* x max(1, d* / r)`` decades (r: that run's distance)."""
    d = copy.deepcopy(details)
    dist = np.asarray(d["distance"], float)
    if len(dist):
        r = max(float(dist.max()), 0.05)
        t = np.asarray(d["target_distance"], float)
        d["target_distance"] = t * np.maximum(1.0, t / r)
    return today(d, ci)


def one_origin_prior(details: dict, ci: float) -> tuple:
    """With one origin the prior counts as three origins (otherwise as one, as today)."""
    K = len(np.unique(np.asarray(details["origin"], int)))
    return combined(prior_weight=3.0 if K == 1 else 1.0)(details, ci)


def one_target(details: dict, t: int) -> dict:
    """``details`` cut to target ``t`` alone (every per-target array keeps its axis)."""
    d = dict(details)
    d["log_targets"] = np.asarray(details["log_targets"], float)[:, [t]]
    for k in ("target_distance", "target_position", "target_size"):
        if k in d:
            d[k] = np.asarray(d[k], float)[[t]]
    if d.get("origin_log_targets") is not None and np.ndim(d["origin_log_targets"]) == 3:  # [L, K, T]; none held out
        d["origin_log_targets"] = np.asarray(d["origin_log_targets"], float)[:, :, [t]]
    return d


def scatter_prior(ratio: float | None):
    """The prior's error growth per decade tied to each target's run-to-run scatter: ``tau_prior = ratio x s0``
    instead of 0.01 (eighteenth session; ``None``: 0.01, today's, through the same per-target calls)."""
    def rule(details: dict, ci: float) -> tuple:
        s0 = combine(details, ci)["s0"]
        out = [combine(one_target(details, t), ci, tau_prior=0.01 if ratio is None else ratio * s0[t])
               for t in range(len(s0))]
        return tuple(np.concatenate([np.atleast_1d(o[k]) for o in out]) for k in ("loss", "lo", "hi"))
    return rule


def posterior_rule(details: dict, ci: float) -> tuple:
    """``sigma^2`` and ``tau^2`` averaged over their penalised likelihood on the grid (each grid point one prior mass:
    log-uniform), instead of taken at its maximum (twenty-first session): the uncertainty of a scale fitted on a few
    origins enters the interval, most where the target lies beyond them."""
    def mean_scale(*args, **kwargs):
        taus, sigmas, ll = scale_likelihood(*args, **kwargs)
        p = np.exp(ll - ll.max())
        p /= p.sum()
        return float(np.sqrt(p.sum(axis=1) @ taus ** 2)), float(np.sqrt(p.sum(axis=0) @ sigmas ** 2))

    return combined(scale=mean_scale)(details, ci)


def level_prior(level: float, weight: float, one_origin_only: bool = False):
    """A one-sided prior on the held-out discrepancy ``sigma``: the penalised likelihood of `scale_likelihood` plus
    ``sigma^2 = level^2`` observed once at distance 0, worth ``weight / K`` origins (K the table's origins; none with
    ``one_origin_only`` and K > 1); its ``sigma`` replaces the fitted one only when larger."""
    def scale(e, d, origin, s0, tau_prior, prior_weight, weights):
        taus, sigmas, ll = scale_likelihood(e, d, origin, s0, tau_prior, prior_weight, weights)
        i, j = np.unravel_index(np.argmax(ll), ll.shape)
        K = len(np.unique(origin))
        if one_origin_only and K > 1:
            return float(taus[i]), float(sigmas[j])
        base = s0 ** 2 + sigmas[None, :] ** 2
        lp = ll - 0.5 * (weight / K) * (np.log(base) + (s0 ** 2 + level ** 2) / base)
        a, b = np.unravel_index(np.argmax(lp), lp.shape)
        return (float(taus[a]), float(sigmas[b])) if sigmas[b] > sigmas[j] else (float(taus[i]), float(sigmas[j]))

    return combined(scale=scale)


def ramped_level_prior(level: float, weight: float, reach: float):
    """`level_prior`'s extra variance ``sigma'^2 - sigma^2`` added in proportion to ``min(1, d* / reach)`` (d*: the
    target's distance beyond the table, decades): nothing inside the table, all of it ``reach`` decades out."""
    raised = level_prior(level, weight)

    def rule(details: dict, ci: float) -> tuple:
        c = combine(details, ci)
        if not len(np.unique(np.asarray(details["origin"], int))):
            return c["loss"], c["lo"], c["hi"]
        q = t_quantile(0.5 + ci / 2.0, c["nu"])
        lp = np.log(c["loss"])
        _, lo2, hi2 = raised(details, ci)
        scale2 = (np.log(hi2) - np.log(lo2)) / (2.0 * q)  # the raised scale (same nu)
        ramp = np.clip(np.asarray(details["target_distance"], float) / reach, 0.0, 1.0)
        scale = np.sqrt(c["scale"] ** 2 + ramp * np.maximum(scale2 ** 2 - c["scale"] ** 2, 0.0))
        return c["loss"], np.exp(lp - q * scale), np.exp(lp + q * scale)
    return rule


def skewed(skew: float, shift: float = 0.0):
    """Today's interval made asymmetric in log loss (thirtieth session): the upper half-width times ``1 + skew``, the
    lower times ``1 - skew``, and both moved up by ``shift`` scales; the point forecast is unchanged. Extrapolated
    losses came out above the forecast on most ladders (the laws' shared optimism beyond the table), which a
    symmetric interval spends half its width against."""
    def rule(details: dict, ci: float) -> tuple:
        c = combine(details, ci)
        q = t_quantile(0.5 + ci / 2.0, c["nu"])
        lp = np.log(c["loss"]) + shift * c["scale"]
        return c["loss"], np.exp(lp - q * c["scale"] * (1.0 - skew)), np.exp(lp + q * c["scale"] * (1.0 + skew))
    return rule


def origin_skew(gain: float, cap: float):
    """The interval made asymmetric by the origins' own sign (thirtieth session): ``skew = clip(-gain x m / rms,
    -cap, cap)``, m the mean of the origins' mean honest log errors (prediction - loss; each origin counted
    once) and rms their root-mean-square, so a ladder whose held-out sizes came out above the forecast gets the
    wider upper side; the point forecast and the scale are unchanged."""
    def rule(details: dict, ci: float) -> tuple:
        seen = {}

        def scale(e, d, origin, *args, **kwargs):
            seen["e"], seen["origin"] = e, origin
            return calibrate_scale(e, d, origin, *args, **kwargs)

        c = combine(details, ci, scale=scale)
        skew = 0.0
        if "e" in seen and len(seen["e"]):
            e, o = np.asarray(seen["e"], float), np.asarray(seen["origin"], int)
            m = np.mean([e[o == k].mean() for k in np.unique(o)])
            skew = float(np.clip(-gain * m / max(np.sqrt(np.mean(e ** 2)), 1e-12), -cap, cap))
        q = t_quantile(0.5 + ci / 2.0, c["nu"])
        lp = np.log(c["loss"])
        return c["loss"], np.exp(lp - q * c["scale"] * (1.0 - skew)), np.exp(lp + q * c["scale"] * (1.0 + skew))
    return rule


def spread_toward_equal(lam: float):
    """The form term read with the stacking weights moved ``lam`` of the way toward equal weights over the laws that
    take part (stable, not strayed, not unsettled), the point forecast unchanged (thirtieth session): stacking often
    gives one law all the weight, and the form term, the weighted disagreement, is then 0 however far the other
    laws' forecasts lie."""
    from scalelab.forecast.agreement import stable

    def rule(details: dict, ci: float) -> tuple:
        c = combine(details, ci)
        names = list(details["names"])
        logs = np.asarray(details["log_targets"], float)
        E = np.asarray(details["errors"], float)
        K = len(np.unique(np.asarray(details["origin"], int)))
        part = np.array([nm not in c["strayed"] and nm not in c["unsettled"] for nm in names])
        part &= stable(E) if K else np.ones(len(names), bool)
        part &= np.all(np.isfinite(logs), axis=1)
        if not part.any():
            return c["loss"], c["lo"], c["hi"]
        w = (1 - lam) * np.asarray(c["weights"], float) + lam * part / part.sum()
        lp = np.log(c["loss"])
        form2 = np.sqrt(w @ (logs - lp) ** 2) / np.sqrt(max(K, 1))
        scale = np.sqrt(np.maximum(c["scale"] ** 2 - c["form"] ** 2, 0.0) + np.maximum(form2, c["form"]) ** 2)
        q = t_quantile(0.5 + ci / 2.0, c["nu"])
        return c["loss"], np.exp(lp - q * scale), np.exp(lp + q * scale)
    return rule


def scatter_dof(details: dict) -> np.ndarray:
    """Per target, the degrees of freedom of `combine`'s ``s0``: the effective number of runs in its kernels
    (``(sum w)^2 / sum w^2``, the same position and size kernels at `combine`'s defaults) less the parameters the
    weighted fits spent, in proportion (``n_eff (1 - p / n)``, at least 1)."""
    c, kw = combine(details, 0.9), combine.__kwdefaults__  # combine's own kernels, at its defaults
    n = np.shape(details["residuals"])[1]
    p = float(c["weights"] @ np.asarray(details["n_params"], float))
    out = []
    for t in range(len(np.atleast_1d(details["target_distance"]))):
        w = np.ones(n)
        if c["local"]:
            w = w * local_weights(np.asarray(details["run_position"], float),
                                  round(float(np.asarray(details["target_position"], float)[t]), 2), kw["bandwidth"])
        if c["sized"]:
            w = w * size_weights(np.asarray(details["run_size"], float),
                                 round(float(np.asarray(details["target_size"], float)[t]), 2), kw["size_bandwidth"],
                                 kw["min_runs"])
        out.append(max(np.sum(w) ** 2 / np.sum(w ** 2) * (1.0 - p / n), 1.0))
    return np.asarray(out)


def welch_rule(details: dict, ci: float) -> tuple:
    """The Student-t quantile's degrees of freedom by Welch and Satterthwaite (thirty-first session): ``s0^2``, read on
    many runs, counts with its own degrees of freedom (`scatter_dof`), the held-out part (``sigma``, ``tau``, form) with
    today's ``K + prior + 1``: ``nu = s^4 / (s0^4 / nu0 + (s^2 - s0^2)^2 / nu)``. Never fewer than today's."""
    c = combine(details, ci)
    v0, v = c["s0"] ** 2, c["scale"] ** 2
    nu = v ** 2 / (v0 ** 2 / scatter_dof(details) + (v - v0) ** 2 / c["nu"])
    q = np.array([t_quantile(0.5 + ci / 2.0, x) for x in nu])
    lp = np.log(c["loss"])
    return c["loss"], np.exp(lp - q * c["scale"]), np.exp(lp + q * c["scale"])


def without_kaplan(details: dict, ci: float) -> tuple:
    """Today's interval with Kaplan's law no candidate (thirty-second session; its rows dropped, `laws_kept`): the law
    without an irreducible loss extrapolates below the others, and its disagreement is much of the form term."""
    names = np.asarray(details["names"])
    return today(laws_kept(details, names != "kaplan") if (names == "kaplan").any() and len(names) > 1 else details, ci)


def mad_scatter(details: dict, ci: float) -> tuple:
    """The interval with ``s0`` as 1.4826 MAD of the weighted residuals, as before the thirtieth session (`combine`
    reads the MAD when ``details`` carry no ``n_params``)."""
    return today({k: v for k, v in details.items() if k != "n_params"}, ci)


RULES = {"today": today, "no one-ratio floor (before the twenty-second session)": no_one_ratio_floor, "form as a floor": floor_rule(False), "floor, whole spread": floor_rule(True),
         "d / span": relative_rule, "beyond the origins' reach": reach_rule, "one origin, prior worth 3": one_origin_prior,
         "today, target by target": scatter_prior(None), "prior 1 x s0 per decade": scatter_prior(1.0),
         "prior 2 x s0 per decade": scatter_prior(2.0), "posterior mean of the scale": posterior_rule,
         "prior 0.0075 per decade": combined(tau_prior=0.0075), "prior 0.005 per decade": combined(tau_prior=0.005),
         "prior 0.003 per decade": combined(tau_prior=0.003), "prior worth half an origin": combined(prior_weight=0.5),
         "level prior 2%, worth 2 / K": level_prior(0.02, 2.0), "level prior 2%, worth 4 / K": level_prior(0.02, 4.0),
         "level prior 2%, worth 4, one origin only": level_prior(0.02, 4.0, True),
         "level prior 2%, worth 4 / K, ramped over 0.5 decades": ramped_level_prior(0.02, 4.0, 0.5),
         "level prior 2%, worth 4 / K, ramped over 1 decade": ramped_level_prior(0.02, 4.0, 1.0),
         "level prior 2%, worth 4 / K, ramped over 0.25 decades": ramped_level_prior(0.02, 4.0, 0.25),
         "level prior 2%, worth 4 / K, ramped over 0.1 decades": ramped_level_prior(0.02, 4.0, 0.1),
         "level prior 1.5%, worth 4 / K, ramped over 0.1 decades": ramped_level_prior(0.015, 4.0, 0.1),
         "level prior 1%, worth 4 / K, ramped over 0.1 decades": ramped_level_prior(0.01, 4.0, 0.1),
         "skewed up 0.2": skewed(0.2), "skewed up 0.33": skewed(0.33), "skewed up 0.5": skewed(0.5),
         "shifted up 0.25 scale": skewed(0.0, 0.25), "shifted up 0.5 scale": skewed(0.0, 0.5),
         "skew from the origins, gain 0.5, cap 0.33": origin_skew(0.5, 0.33),
         "skew from the origins, gain 1, cap 0.5": origin_skew(1.0, 0.5),
         "form spread, weights 0.25 toward equal": spread_toward_equal(0.25),
         "form spread, weights 0.5 toward equal": spread_toward_equal(0.5),
         "scatter as 1.4826 MAD (before the thirtieth session)": mad_scatter,
         "Welch-Satterthwaite degrees of freedom": welch_rule, "Kaplan's law no candidate": without_kaplan,
         "one origin without the whole-disagreement floor (before the thirty-first session)": combined(one_origin=False)}


def families(rows, rule, ci) -> str:
    """Tables with every target inside their interval, and the median relative width."""
    return tables_covered(rows, lambda details: rule(details, ci))


def coverage(rows, rule, ci) -> str:
    """Share of the simulated new runs inside their interval, and the median relative width."""
    return runs_covered(rows, lambda details: rule(details, ci))


FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)


def scaled(factor: float, ci: float):
    """Today's interval with its half-width (in log loss) times ``factor``."""
    def interval(details: dict) -> tuple:
        loss, lo, hi = today(details, ci)
        return loss, loss * (lo / loss) ** factor, loss * (hi / loss) ** factor
    return interval


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--public", required=True, help="forecast.py --jsonl output")
    ap.add_argument("--unseen", help="forecast.py --unseen --jsonl output")
    ap.add_argument("--small", help="forecast_small.py --jsonl output")
    ap.add_argument("--calibration", nargs="*", default=[], help="forecast_calibration.py --jsonl outputs")
    ap.add_argument("--farther", help="forecast.py --hold-out 2 --jsonl output (the two largest sizes forecast)")
    ap.add_argument("--shapes", help="forecast_shapes.py --jsonl output (ladders shaped like the private benchmark's)")
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--only", default=None, help="rules whose names hold one of these comma-separated words (and today)")
    args = ap.parse_args()
    if args.only:
        words = [w.strip() for w in args.only.split(",") if w.strip()]
        for name in [n for n in RULES if n != "today" and not any(w in n for w in words)]:
            del RULES[name]
    final, porian = public_groups(saved_forecasts(args.public))
    small = saved_forecasts(args.small)
    unseen = saved_forecasts(args.unseen)
    cal = [saved_forecasts(p) for p in args.calibration]
    far_final, far_porian = public_groups(saved_forecasts(args.farther))
    shaped = saved_forecasts(args.shapes)
    extra = " two largest out: final-loss 11 / Porian 13 |" if args.farther else ""
    extra += f" shapes {len(shaped)} |" if shaped else ""
    print(f"| rule | final-loss 11 | Porian Kaplan/const 13 | unseen 4 | small 12 / 20 runs | simulated |{extra}")
    print("|---|---|---|---|---|---|" + "---|" * extra.count("|"))
    for name, rule in RULES.items():
        sm = " / ".join(families([r for r in small if r["n"] == n], rule, args.ci) for n in (12, 20)) if small else "-"
        far = (f" {families(far_final, rule, args.ci)} / {families(far_porian, rule, args.ci)} |" if args.farther
               else "")
        far += f" {families(shaped, rule, args.ci)} |" if shaped else ""
        print(f"| {name} | {families(final, rule, args.ci)} | {families(porian, rule, args.ci)} | "
              f"{families(unseen, rule, args.ci) if unseen else '-'} | {sm} | "
              f"{' / '.join(coverage(rows, rule, args.ci) for rows in cal) or '-'} |{far}", flush=True)
    print("\n| today's half-width x | final-loss 11 | final-loss 11 + unseen 4 | Porian Kaplan/const 13 | small 12 + 20 runs |")
    print("|---|---|---|---|---|")
    for f in FACTORS:
        cover = lambda rows: tables_covered(rows, scaled(f, args.ci)) if rows else "-"  # noqa: E731
        print(f"| {f:g} | {cover(final)} | {cover(final + unseen)} | {cover(porian)} | {cover(small)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
