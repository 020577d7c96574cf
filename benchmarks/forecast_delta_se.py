"""Does a fit's own parameter uncertainty predict its extrapolation error? The delta method on the forecast's fits.

`scalelab.forecast` calibrates its interval on the rolling origins' held-out errors. A classical alternative would
studentize them: each fit's Gauss-Newton standard error of the log prediction,
``se(x)^2 = s^2 g(x)^T pinv(J^T J) g(x)`` (J the Jacobian of log f over the fit's training runs, g at x, s the
robust scale of the fit's residuals: `scalelab.forecast.robust_scale`), grows with extrapolation distance and shrinks
with more runs and sizes, so an origin trained on fewer sizes than the whole table would count for less. This
benchmark runs the forecast on the public families with that standard error recorded for every candidate and fit
(the whole table's at the targets, each origin's at its held-out runs), prints per family how large the held-out
errors are against it, and rescores the studentized rule
``s^2 = s0^2 + c^2 se_t^2 + form^2 / K`` (``c`` by maximum likelihood from ``e_j ~ N(0, s0^2 + c^2 se_j^2)``, each
origin weighted alike; ``se`` combined with the forecast's weights) against today's interval.

    python benchmarks/forecast_delta_se.py [--hold-out 1] [--families gadre,clark] [--jobs 2] [--jsonl F]
    python benchmarks/forecast_delta_se.py --rescore F.jsonl

Run from the repository root (it imports `benchmarks/forecast.py`'s families and split).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name  # noqa: E402
from forecast import families, one_family  # noqa: E402


def install_capture() -> None:
    """Wrap `fit_many`, the forecast's prediction and `combine` (this process only) so that every forecast's
    ``details`` also holds ``se_errors`` [L, m], ``se_targets`` [L, T] and ``s_fit`` [L, 1 + K]."""
    import jax
    import jax.numpy as jnp

    import scalelab.fit.many as many
    import scalelab.forecast as fc
    from scalelab.forecast.calibrate import robust_scale

    lock, weights, losses, ses, scales = threading.Lock(), {}, {}, {}, {}
    fit_many, predict, combine = many.fit_many, fc._predict, fc.combine

    def fit_many_seen(table, law, variants, *a, **k):
        out = fit_many(table, law, variants, *a, **k)
        with lock:
            weights[law.name] = np.asarray(variants.weights, float)
            losses[law.name] = np.asarray(table.column("loss"), float)
        return out

    def predict_seen(law, P, x):
        out = predict(law, P, x)
        names = list(law.params)
        theta = jnp.asarray(np.concatenate([np.asarray(P[p], float).reshape(-1, 1) for p in names], axis=1))
        xs = {c: jnp.asarray(np.asarray(v, float).reshape(-1)) for c, v in x.items()}

        def logf(th):
            return jnp.log(law({p: th[i] for i, p in enumerate(names)}, **xs))

        G = np.asarray(jax.vmap(jax.jacfwd(logf))(theta), float)  # [V, runs + targets, params]
        lp = np.asarray(jax.vmap(logf)(theta), float)
        with lock:
            W, y = weights[law.name], losses[law.name]
        n = W.shape[1]
        se, s = np.full(lp.shape, np.nan), np.full(len(W), np.nan)
        for v in range(len(W)):  # the whole table and a few origins
            train = W[v] > 0
            J = G[v, :n][train]
            J = J[np.isfinite(J).all(axis=1)]
            s[v] = max(robust_scale(lp[v, :n][train] - np.log(y[train])), 1e-4)
            norm = np.linalg.norm(J, axis=0)
            norm = np.where(norm > 0, norm, 1.0)
            C = np.linalg.pinv((J / norm).T @ (J / norm), rcond=1e-10, hermitian=True) / np.outer(norm, norm)
            se[v] = s[v] * np.sqrt(np.maximum(np.einsum("mi,ij,mj->m", G[v], C, G[v]), 0.0))
        with lock:
            ses[law.name], scales[law.name] = se, s
        return out

    def combine_seen(details, *a, **k):
        names = list(details["names"])
        with lock:
            W = weights[names[0]]
            se = [ses[nm] for nm in names]
            details["s_fit"] = np.stack([scales[nm] for nm in names])
        n, K = W.shape[1], W.shape[0] - 1
        held = [np.flatnonzero(W[k] == 0) for k in range(1, K + 1)]
        details["se_errors"] = np.stack([np.concatenate([s[k + 1][h] for k, h in enumerate(held)]) if K
                                         else np.zeros(0) for s in se])
        details["se_targets"] = np.stack([s[0][n:] for s in se])
        return combine(details, *a, **k)

    many.fit_many, fc._predict, fc.combine = fit_many_seen, predict_seen, combine_seen


def studentized(details: dict, ci: float = 0.9) -> dict:
    """Today's `combine`, and the same forecast with the studentized scale (module doc): lo, hi, c, and per origin
    the RMS weighted error and standard error of its held-out runs."""
    from scalelab.forecast.calibrate import combine, t_quantile

    c = combine(details, ci)
    w = c["weights"]
    E, orig = np.asarray(details["errors"], float), np.asarray(details["origin"], int)
    se_h, se_t = w @ np.asarray(details["se_errors"], float), w @ np.asarray(details["se_targets"], float)
    e = w @ E
    per = [(float(np.sqrt(np.mean(e[orig == k] ** 2))), float(np.sqrt(np.mean(se_h[orig == k] ** 2))))
           for k in np.unique(orig)]
    out = {"today": c, "per_origin": per, "se_target": se_t}
    if not len(per):
        return {**out, "lo": c["lo"], "hi": c["hi"], "c": float("nan")}
    omega = np.zeros(len(e))
    for k in np.unique(orig):
        omega[orig == k] = 1.0 / np.sum(orig == k)
    s0 = float(np.median(c["s0"]))
    cs = np.geomspace(0.1, 100.0, 400)
    var = s0 ** 2 + cs[:, None] ** 2 * se_h[None, :] ** 2
    ll = -0.5 * np.sum(omega * (np.log(var) + e ** 2 / var), axis=1)
    cc = float(cs[np.argmax(ll)])
    scale = np.sqrt(c["s0"] ** 2 + cc ** 2 * se_t ** 2 + c["form"] ** 2)
    q = t_quantile(0.5 + ci / 2.0, c["nu"])
    lp = np.log(c["loss"])
    return {**out, "lo": np.exp(lp - q * scale), "hi": np.exp(lp + q * scale), "c": cc}


def report(rows: list, ci: float) -> None:
    print(f"\n{'family':<34}{'target err':>11}{'se at target':>13}   origins: RMS error / RMS se (%)   c")
    groups = {"final-loss": [], "porian13": []}
    for r in rows:
        d = {k: np.asarray(v) if isinstance(v, list) else v for k, v in r["details"].items()}
        s = studentized(d, ci)
        y = np.asarray(r["y"], float)
        t = s["today"]
        err = float(np.sqrt(np.mean(np.log(t["loss"] / y) ** 2)))
        origins = "  ".join(f"{100 * a:.2f}/{100 * b:.2f}" for a, b in s["per_origin"])
        print(f"{r['family'][:33]:<34}{100 * err:10.2f}%{100 * np.mean(s['se_target']):12.2f}%   {origins}   "
              f"{s['c']:.1f}")
        porian = r["family"].startswith("porian") and "chinchilla_standard" not in r["family"]
        for name, lo, hi in (("today", t["lo"], t["hi"]), ("studentized", s["lo"], s["hi"])):
            groups["porian13" if porian else "final-loss"].append(
                (name, bool(np.all((lo <= y) & (y <= hi))), float(np.median((hi - lo) / t["loss"]))))
    print(f"\n{'rule':<14}" + "".join(f"{g:>26}" for g in groups))
    for name in ("today", "studentized"):
        cells = []
        for g, items in groups.items():
            mine = [x for x in items if x[0] == name]
            cells.append(f"{sum(x[1] for x in mine)}/{len(mine)} inside, {100 * np.median([x[2] for x in mine]):.2f}%"
                         if mine else "-")
        print(f"{name:<14}" + "".join(f"{c:>26}" for c in cells))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=None, help="comma-separated name prefixes (default: all)")
    ap.add_argument("--hold-out", type=int, default=1)
    ap.add_argument("--ci", type=float, default=0.9)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--jsonl", help="append each family's forecast (details with the standard errors) here")
    ap.add_argument("--rescore", help="report on a --jsonl file of this script without fitting")
    args = ap.parse_args(argv)
    if args.rescore:
        report([json.loads(line) for line in open(args.rescore)], args.ci)
        return 0
    fams = families()
    if args.families:
        fams = {k: v for k, v in fams.items() if any(k.startswith(p) for p in args.families.split(","))}
    opts = SimpleNamespace(hold_out=args.hold_out, ref_only=False, no_ref=True, laws="auto", ci=args.ci,
                           min_train_sizes=3)
    jobs = sorted([(name, df, opts) for name, df in fams.items()], key=lambda j: len(j[1]))
    print(f"device: {device_name()}", flush=True)
    rows = []
    sink = open(args.jsonl, "a") if args.jsonl else None
    if args.jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn"), initializer=install_capture) as pool:
            rows = [f.result() for f in as_completed([pool.submit(one_family, job) for job in jobs])]
    else:
        install_capture()
        rows = [one_family(job) for job in jobs]
    for r in rows:
        if sink is not None:
            sink.write(json.dumps(r, default=str) + "\n")
    report(rows, args.ci)
    return 0


if __name__ == "__main__":
    sys.exit(main())
