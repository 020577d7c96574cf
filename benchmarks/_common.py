"""Shared helpers for benchmarks: device names, the SciPy anchor objective, the forecasts' rescoring option."""

import platform

import numpy as np
from scipy import special


def device_name() -> str:
    import jax

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform)
    cpu = platform.processor() or platform.machine()
    return f"{d.platform}:{kind} x{jax.device_count()} (host {cpu}, {__import__('os').cpu_count()} cores)"


def combine_options(ap) -> None:
    """The forecast benchmarks' ``--rescore`` options that set `scalelab.forecast.combine`'s rules, each ``default``
    (combine's own), ``none`` (the rule off) or a number: ``--bandwidth``, ``--size-bandwidth``, ``--stray-factor``,
    ``--shift-factor``;
    and ``--tau-prior``, a number (default: combine's own)."""
    ap.add_argument("--bandwidth", default="default",
                    help="with --rescore: the interval's locality in decades of tokens per parameter, or none")
    ap.add_argument("--size-bandwidth", default="default",
                    help="with --rescore: s0's locality in decades of model size, or none (every size alike)")
    ap.add_argument("--stray-factor", default="default",
                    help="with --rescore: leave out laws whose forecast strays beyond this many times the held-out "
                         "errors, or none")
    ap.add_argument("--shift-factor", default="default",
                    help="with --rescore: leave out laws whose forecast moves beyond this many times their first "
                         "origin's held-out error when the largest size is added, or none")
    ap.add_argument("--tau-prior", type=float, default=None,
                    help="with --rescore: the prior's error growth per decade of extrapolation (log loss; combine's 0.01)")


def rescore_options(args) -> dict:
    """Keyword arguments of `scalelab.forecast.combine` from the options of `combine_options`."""
    out = {}
    for key in ("bandwidth", "size_bandwidth", "stray_factor", "shift_factor"):
        text = getattr(args, key)
        if text != "default":
            out[key] = None if text.lower() == "none" else float(text)
    if args.tau_prior is not None:
        out["tau_prior"] = args.tau_prior
    return out


def epoch_objective(theta, logN, logD, logL, delta=1e-3):
    """Epoch/Hoffmann objective in float64: sum Huber(LSE(a - alpha logN, b - beta logD, e) - log L)."""
    a, b, e, alpha, beta = theta
    pred = special.logsumexp([a - alpha * logN, b - beta * logD, np.full_like(logN, e)], axis=0)
    return np.sum(special.huber(delta, pred - logL))


def epoch_objective_and_grad(theta, logN, logD, logL, delta=1e-3):
    """`epoch_objective` and its analytic gradient (a fair SciPy anchor: no finite differences)."""
    a, b, e, alpha, beta = theta
    t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
    pred = special.logsumexp(t, axis=0)
    r = pred - logL
    s = np.exp(t - pred)  # softmax weights of the three terms
    psi = np.clip(r, -delta, delta)
    grad = np.array([np.sum(psi * s[0]), np.sum(psi * s[1]), np.sum(psi * s[2]),
                     -np.sum(psi * s[0] * logN), -np.sum(psi * s[1] * logD)])
    return np.sum(special.huber(delta, r)), grad


def vpnls(N, D, L, step=0.01, lo=0.0, hi=1.0, delta=1e-3, irls_iter=5):
    """The VPNLS procedure (variable projection + NNLS; arXiv 2603.22339), in NumPy/SciPy, as an anchor.

    A grid over (alpha, beta) in [lo, hi] at resolution ``step``; at each point, (E, A, B) >= 0 by
    scipy.optimize.nnls on the loss scale with relative weights 1/L^2 (so the squared residual is the
    first-order log residual), re-weighted ``irls_iter`` times by the Huber(delta) IRLS weight of the
    log residuals; the grid point with the lowest summed Huber(delta) of log residuals wins, with no
    polish (exponents to the grid's resolution).

    Returns ``(params dict, objective)``; the objective is Epoch's (summed Huber(1e-3) of log residuals).
    """
    from scipy import optimize

    logL = np.log(L)
    grid = np.arange(lo, hi + step / 2, step)
    best = (np.inf, None)
    for alpha in grid:  # the anchor is a loop by definition
        nA = N ** -alpha
        for beta in grid:
            X = np.stack([np.ones_like(N), nA, D ** -beta], axis=1)
            w = 1.0 / (L * L)
            for _ in range(irls_iter + 1):
                sw = np.sqrt(w)
                c, _ = optimize.nnls(X * sw[:, None], L * sw)
                pred = X @ c
                if not np.all(pred > 0):
                    break
                r = np.log(pred) - logL
                a = np.abs(r)
                w = np.where(a <= delta, 1.0, delta / np.maximum(a, delta)) / (L * L)
            if not np.all(pred > 0):
                continue
            f = np.sum(special.huber(delta, np.log(pred) - logL))
            if f < best[0]:
                best = (f, {"E": c[0], "A": c[1], "B": c[2], "alpha": float(alpha), "beta": float(beta)})
    return best[1], best[0]


def tables_covered(rows, interval) -> str:
    """Saved forecasts (``--jsonl`` rows with ``details`` and the targets' losses ``y``) whose every target lies inside
    ``interval(details) -> (loss, lo, hi)``, out of all, and the median relative width ``(hi - lo) / loss``."""
    inside, width = 0, []
    for r in rows:
        loss, lo, hi = interval(r["details"])
        y = np.asarray(r["y"], float)
        inside += bool(np.all((lo <= y) & (y <= hi)))
        width.append(np.median((hi - lo) / loss))
    return f"{inside}/{len(rows)}, {100 * np.median(width):.1f}%"


def runs_covered(rows, interval) -> str:
    """The share of simulated new runs (``forecast_calibration.py --jsonl`` rows' ``new``) inside
    ``interval(details) -> (loss, lo, hi)``, and the median relative width in parentheses."""
    inside, width = [], []
    for r in rows:
        loss, lo, hi = interval(r["details"])
        new = np.asarray(r["new"], float)
        inside.extend(((lo <= new) & (new <= hi)).tolist())
        width.extend(((hi - lo) / loss).tolist())
    return f"{np.mean(inside):.3f} ({100 * np.median(width):.1f}%)"


def with_n_params(details: dict) -> dict:
    """``details`` with ``n_params`` (each law's parameter count, which `combine` reads for the runs' scatter),
    filled from the registered laws where a file saved before the thirtieth session lacks it."""
    if "n_params" not in details:
        import scalelab

        details["n_params"] = [float(len(scalelab.laws.get(nm).params)) for nm in details["names"]]
    return details


def laws_kept(details: dict, keep) -> dict:
    """``details`` with only the candidate laws where ``keep`` [L] is true: their rows of every per-law entry. The
    forecast a fit of those laws alone would have combined, as long as the law with the most parameters is kept (it
    sets how many origins the table holds)."""
    keep = np.asarray(keep, bool)
    out = dict(details, names=list(np.asarray(details["names"])[keep]))
    for key in ("errors", "log_targets", "residuals", "n_params", "origin_log_targets"):
        if key in details:
            out[key] = np.asarray(details[key], float)[keep]
    return out


def jsonable(obj):
    """Forecast details (NumPy arrays inside) as plain JSON values, for the benchmarks' ``--jsonl`` files."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj.tolist() if isinstance(obj, np.ndarray) else obj


def saved_forecasts(path: str | None) -> list:
    """The rows of a forecast benchmark's ``--jsonl`` file that hold a forecast's ``details`` (none without a path),
    each with its ``n_params`` (`with_n_params`)."""
    import json

    rows = [json.loads(line) for line in open(path) if '"details"' in line] if path else []
    rows = [r for r in rows if r["details"]]  # a failed forecast's row holds none
    for r in rows:
        with_n_params(r["details"])
    return rows


def public_groups(rows: list) -> tuple[list, list]:
    """``(final-loss families, Porian's early readouts)`` of `benchmarks/forecast.py`'s public rows: Porian's Kaplan-decay
    and constant-LR configurations read isoFLOP losses mid-training; every other family (Porian's Chinchilla-decay pair
    included) gives final losses."""
    porian = [r for r in rows if r["family"].startswith("porian") and "chinchilla_standard" not in r["family"]]
    return [r for r in rows if r not in porian], porian
