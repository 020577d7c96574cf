"""Decisions from a fit: the influence of each run on a forecast, and which runs to train next.

Targets (a quantity a decision rests on) are written ``QUANTITY@INPUTS``:

* ``loss@N=1e9,D=2e10``: predicted loss (nats/token) at given N and D;
* ``loss@C=1e24``: predicted loss at the compute-optimal point of budget C (``C = 6ND``);
* ``N_opt@C=1e24``, ``D_opt@C=1e24``, ``tokens_per_param@C=1e24``: the compute-optimal
  split (`scalelab.frontier`).

Other law inputs are given the same way and held fixed (``loss@C=1e24,E=8``).

Choosing the next runs (`suggest`): a Laplace/Fisher approximation of how much
each candidate run would shrink the target's predictive variance, greedy per FLOP.

Influence (Koh & Liang 2017; the infinitesimal jackknife of Jaeckel 1972): the fit
``theta*(w)`` is differentiable in the per-run weights (`scalelab.fit.implicit`),
so the first-order change of a target ``T`` when run ``i`` is removed (weight
1 -> 0) is ``-dT/dw_i = -grad T . d theta*/d w_i``, for all runs from one
reverse-mode pass. ``method="newton"`` instead takes, per run, one Newton step
of the objective without that run from the full optimum,
``theta* + (H - H_i)^-1 grad rho_i`` (``H_i`` the run's own Hessian), and
evaluates ``T`` there: the leverage correction that the first-order formula
misses for runs inside the Huber band.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from scalelab import frontier as _frontier
from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.fit import implicit, objectives
from scalelab.fit.api import fit as _fit, fixed_vectors, prepare_data, residual_fn_for

QUANTITIES = ("loss", "N_opt", "D_opt", "tokens_per_param")


@dataclasses.dataclass(frozen=True)
class Target:
    """A forecast quantity: ``quantity`` at ``at`` (``C``, or ``N`` and ``D``, plus held inputs)."""

    quantity: str
    at: Mapping[str, float]
    text: str

    @property
    def at_compute(self) -> bool:
        return "C" in self.at


_TARGET_RE = re.compile(r"^\s*([A-Za-z_]+)\s*@\s*(.+?)\s*$")


def parse_target(text: str) -> Target:
    """Parse ``loss@C=1e24``, ``loss@N=1e9,D=2e10``, ``N_opt@C=1e24`` ... (see module doc)."""
    m = _TARGET_RE.match(str(text))
    if not m:
        raise ValueError(f"target {text!r} must look like 'loss@C=1e24' or 'loss@N=1e9,D=2e10'")
    quantity, rest = m.group(1), m.group(2)
    if quantity not in QUANTITIES:
        raise ValueError(f"target quantity {quantity!r} unknown; choose one of {QUANTITIES}")
    at = {}
    for part in rest.split(","):
        if "=" not in part:
            raise ValueError(f"target {text!r}: {part!r} is not NAME=VALUE")
        k, v = (s.strip() for s in part.split("=", 1))
        try:
            at[k] = float(v)
        except ValueError:
            raise ValueError(f"target {text!r}: {v!r} is not a number") from None
        if not (np.isfinite(at[k]) and at[k] > 0):
            raise ValueError(f"target {text!r}: {k} must be positive and finite")
    if "C" in at:
        if "N" in at or "D" in at:
            raise ValueError(f"target {text!r}: give either C (compute-optimal point) or N and D, not both")
    else:
        if quantity != "loss":
            raise ValueError(f"target {text!r}: {quantity} is defined at a compute budget; write {quantity}@C=...")
        if not {"N", "D"} <= set(at):
            raise ValueError(f"target {text!r}: give C=... or both N=... and D=...")
    return Target(quantity, at, str(text).strip())


def target_fn(law, target: Target | str):
    """``T(theta)``: the target as a differentiable function of unconstrained parameters."""
    law = _laws.get(law)
    target = parse_target(target) if isinstance(target, str) else target
    at = dict(target.at)
    missing = sorted(set(law.inputs) - set(at) - ({"N", "D"} if target.at_compute else set()))
    if missing:
        raise ValueError(f"target {target.text!r}: law {law.name!r} also needs inputs {missing} (e.g. "
                         f"'{target.text},{missing[0]}=...')")
    if target.at_compute:
        C = at.pop("C")
        _frontier._check_law(law, at)
        extra = {k: jnp.asarray(v) for k, v in at.items() if k in law.inputs}

        def T(theta):
            u = _frontier.optimal_log_n(law, theta, jnp.asarray(C), extra)
            N = jnp.exp(u)
            D = C / (6.0 * N)
            if target.quantity == "N_opt":
                return N
            if target.quantity == "D_opt":
                return D
            if target.quantity == "tokens_per_param":
                return D / N
            return jnp.exp(law.log_predict_theta(theta, {"N": N, "D": D, **extra}))
    else:
        x = {k: jnp.asarray(v) for k, v in at.items() if k in law.inputs}

        def T(theta):
            return jnp.exp(law.log_predict_theta(theta, x))
    return T


@dataclasses.dataclass(frozen=True)
class Influence:
    """What `influence` returns.

    Attributes:
      law, target: what was asked.
      value: the target at the full-data fit.
      influence: ``[n]`` predicted change of the target when each run is removed,
        in the order of the table's runs.
      loo_change: ``[n]`` change given by actual leave-one-out refits, or None.
      theta: unconstrained optimum (full data).
      method: ``"first-order"`` or ``"newton"``.
      seconds: time of the influence computation (fit excluded); ``loo_seconds`` of the refits.
      rows: ``[n]`` 0-based row of each run in the table as read (a table reduced with
        ``drop_highest_loss`` keeps its rows' original numbers), or None for 0..n-1.
    """

    law: str
    target: str
    value: float
    influence: np.ndarray
    loo_change: np.ndarray | None
    theta: np.ndarray
    method: str
    seconds: float
    loo_seconds: float | None = None
    rows: np.ndarray | None = None

    def table(self) -> pd.DataFrame:
        """One row per run, ranked by ``|influence|`` (largest first)."""
        rows = np.arange(len(self.influence)) if self.rows is None else self.rows
        df = pd.DataFrame({"row": rows, "influence": self.influence,
                           "loo_change": self.loo_change if self.loo_change is not None else np.nan})
        return df.reindex(np.argsort(-np.abs(self.influence), kind="stable")).reset_index(drop=True)

    def to_json(self) -> dict:
        """The stable object of ``scalelab influence --json``."""
        t = self.table()
        return {"law": self.law, "target": self.target, "value": float(self.value),
                "runs": [{"row": int(r), "influence": float(i),
                          "loo_change": None if self.loo_change is None else float(l)}
                         for r, i, l in zip(t["row"], t["influence"], t["loo_change"])]}


def influence_values(law, kind, theta, data, delta, T, free=None, fixed=None, method="first-order"):
    """Influence of every run on ``T`` at the optimum ``theta`` (pure JAX; jit-able).

    ``first-order``: ``-dT/dw_i`` through the implicit gradient of the fit.
    ``newton``: ``T(theta + (H - H_i)^-1 grad rho_i) - T(theta)`` per run.
    """
    P = theta.shape[0]
    free = jnp.ones((P,), theta.dtype) if free is None else free
    fixed = jnp.zeros((P,), theta.dtype) if fixed is None else fixed
    solve = implicit.solution(law, kind, keep=1, max_iter=50)
    if method == "first-order":
        g = jax.grad(lambda w: T(solve(theta[None], {**data, "w": w}, delta, free, fixed)))(data["w"])
        return -g
    if method != "newton":
        raise ValueError(f"method must be 'first-order' or 'newton', got {method!r}")
    residual = residual_fn_for(law)
    H = implicit.masked_hessian(law, kind, theta, data, delta, free, fixed)
    n = data["w"].shape[0]

    def run_loss(th, i):  # w_i rho(r_i(theta)) of run i alone
        full = jnp.where(free > 0, th, fixed)
        one = {"x": {k: v[i][None] for k, v in data["x"].items()}, "y": data["y"][i][None], "w": data["w"][i][None]}
        return objectives.total(kind, residual(full, one), one["w"], delta)

    def one(i):
        g_i = jax.grad(run_loss)(theta, i) * free
        H_i = jax.hessian(run_loss)(theta, i) * (free[:, None] * free[None, :])
        step = jnp.linalg.solve(H - H_i, g_i) * free
        return T(theta + step)

    return jax.lax.map(one, jnp.arange(n), batch_size=64) - T(theta)


_PROGRAMS: dict = {}


def _influence_program(law, objective, target: Target, method):
    """A cached jit of (polish the fit, target value, influence of every run) for one setting."""
    key = (id(law), objective, target.text, method)
    hit = _PROGRAMS.get(key)
    if hit is not None and hit[0] is law:
        return hit[1]
    T = target_fn(law, target)

    @jax.jit
    def compute(theta0, data, dl, free, fixed_u):
        solve = implicit.solution(law, objective, keep=1, max_iter=50)
        theta = solve(theta0[None], data, dl, free, fixed_u)
        return theta, T(theta), influence_values(law, objective, theta, data, dl, T, free, fixed_u, method)

    _PROGRAMS[key] = (law, compute)
    return compute


def influence(runs, law="chinchilla", target: str | Target = "loss@C=1e24", *, objective: str = "huber",
              delta: float = 1e-3, starts="grid", fixed: Mapping[str, float] | None = None,
              method: str = "first-order", loo: bool = False, progress: bool = False) -> Influence:
    """Influence of each run of ``runs`` on ``target`` for a fit of ``law``.

    Args:
      runs: path, DataFrame or `RunTable` (rows keep their order: ``row`` i is the
        table's i-th row, 0-based).
      law: name or `Law`.
      target: e.g. ``"loss@C=1e24"`` (see `parse_target`).
      objective, delta, starts, fixed: the fit (as `scalelab.fit`).
      method: ``"first-order"`` (implicit gradient) or ``"newton"`` (one Newton
        step of each leave-one-out objective; see module doc).
      loo: also refit without each run (`fit_many` over `variants.leave_one_out`,
        warm-started) and report the actual change of the target.

    Returns:
      `Influence`.
    """
    law = _laws.get(law)
    target = parse_target(target) if isinstance(target, str) else target
    T = target_fn(law, target)
    table = _runs.read(runs)
    base = _fit(table, law, objective=objective, delta=delta, starts=starts, fixed=fixed)
    data = jax.tree.map(jnp.asarray, prepare_data(table, law))
    free, fixed_u = (jnp.asarray(a) for a in fixed_vectors(law, fixed))
    theta0 = law.flatten({k: jnp.asarray(v) for k, v in base.unconstrained.items()})
    dl = jnp.asarray(delta, jnp.float64)

    t0 = time.perf_counter()
    compute = _influence_program(law, objective, target, method)
    theta, value, infl = jax.block_until_ready(compute(theta0, data, dl, free, fixed_u))
    seconds = time.perf_counter() - t0
    loo_change, loo_seconds = None, None
    if loo:
        loo_change, loo_seconds = loo_changes(table, law, T, float(value), objective=objective, delta=delta,
                                              fixed=fixed, progress=progress)
    index = table.df.index
    rows = np.asarray(index, int) if pd.api.types.is_integer_dtype(index) else None
    return Influence(law.name, target.text, float(value), np.asarray(infl, float), loo_change,
                     np.asarray(theta, float), method, seconds, loo_seconds, rows)


def loo_changes(table, law, T, value, *, objective="huber", delta=1e-3, fixed=None, progress=False):
    """Change of ``T`` under each leave-one-out refit (one compiled `fit_many`), and its seconds."""
    from scalelab.fit import variants as _variants
    from scalelab.fit.many import fit_many

    n = len(table)
    vs = _variants.leave_one_out(n)
    vs = dataclasses.replace(vs, delta=np.full(n, float(delta)),
                             fixed=tuple(dict(fixed or {}) for _ in range(n)))
    t0 = time.perf_counter()
    df = fit_many(table, law, vs, objective=objective, starts="auto", dtype=jnp.float64, progress=progress)
    seconds = time.perf_counter() - t0
    nat = {k: jnp.asarray(df[k].to_numpy(float)) for k in law.params}
    thetas = law.flatten(law.to_unconstrained(nat))
    vals = np.asarray(jax.jit(jax.vmap(T))(thetas), float)
    order = np.argsort(df["left_out_row"].to_numpy())
    return vals[order] - value, seconds




# --- choosing the next runs ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """What `suggest` returns.

    Attributes:
      law, target, value: the target and its value at the fit.
      sd_before: Laplace (Gauss-Newton) standard deviation of the target now.
      sd_after: the same after adding the chosen runs.
      sigma: log-loss noise scale used (1.4826 x MAD of the fit's residuals).
      budget, spent: FLOPs allowed and used by the chosen runs (``C = 6ND`` each).
      runs: DataFrame, one row per chosen run in the order chosen: ``N``, ``D``, ``C``,
        ``tokens_per_param``, ``sd_after`` (target sd once this and the earlier runs are
        added), ``reduction_per_flop`` (variance removed per FLOP, the greedy criterion).
    """

    law: str
    target: str
    value: float
    sd_before: float
    sd_after: float
    sigma: float
    budget: float
    spent: float
    runs: pd.DataFrame

    def to_json(self) -> dict:
        """The stable object of ``scalelab suggest --json``."""
        return {"law": self.law, "target": self.target, "value": float(self.value),
                "sd_before": float(self.sd_before), "sd_after": float(self.sd_after), "sigma": float(self.sigma),
                "budget": float(self.budget), "spent": float(self.spent),
                "runs": [{k: float(v) for k, v in row.items()} for row in self.runs.to_dict("records")]}


def candidate_pool(budget: float, n_compute: int = 13, n_ratio: int = 13, min_fraction: float = 1e-4,
                   tokens_per_param=(1.0, 1000.0)) -> pd.DataFrame:
    """Log-spaced isoFLOP candidates: ``n_compute`` budgets from ``min_fraction * budget`` to ``budget``,
    each at ``n_ratio`` log-spaced tokens per parameter (``N = sqrt(C / 6r)``, ``D = C / 6N``)."""
    if not (np.isfinite(budget) and budget > 0):
        raise ValueError(f"budget must be a positive number of FLOPs, got {budget}")
    C = np.repeat(np.geomspace(min_fraction * budget, budget, n_compute), n_ratio)
    r = np.tile(np.geomspace(*tokens_per_param, n_ratio), n_compute)
    N = np.sqrt(C / (6.0 * r))
    return pd.DataFrame({"N": N, "D": C / (6.0 * N), "C": C, "tokens_per_param": r})


def suggest(runs, law="chinchilla", target: str | Target = "loss@C=1e24", *, budget: float = 1e21, k: int = 4,
            objective: str = "huber", delta: float = 1e-3, starts="grid", fixed: Mapping[str, float] | None = None,
            candidates: pd.DataFrame | None = None) -> Suggestion:
    """Choose up to ``k`` new runs that most reduce the target's predictive variance per FLOP.

    Laplace/Fisher approximation: the posterior covariance of the unconstrained
    parameters is ``Sigma = sigma^2 (J^T J)^-1`` (Gauss-Newton information of the
    log-loss residuals of the current runs, ``sigma`` their robust scale); a
    candidate run ``c`` adds ``j_c j_c^T / sigma^2`` (``j_c`` the gradient of its
    predicted log loss), so its variance reduction of ``T`` is
    ``(g^T Sigma j_c)^2 / (sigma^2 + j_c^T Sigma j_c)`` with ``g = grad T``
    (Sherman-Morrison). Greedy: repeatedly add the candidate with the largest
    reduction per FLOP among those that fit in the remaining budget, then update
    ``Sigma``. Candidates: `candidate_pool` (isoFLOP, log-spaced) unless given;
    inputs other than N and D are taken from the target (e.g. ``,E=8``).
    """
    law = _laws.get(law)
    target = parse_target(target) if isinstance(target, str) else target
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not {"N", "D"} <= set(law.inputs):
        raise ValueError(f"law {law.name!r} does not take N and D; candidates are (N, D) runs")
    T = target_fn(law, target)
    table = _runs.read(runs)
    base = _fit(table, law, objective=objective, delta=delta, starts=starts, fixed=fixed)
    data = jax.tree.map(jnp.asarray, prepare_data(table, law))
    free = jnp.asarray(fixed_vectors(law, fixed)[0])
    theta = law.flatten({k_: jnp.asarray(v) for k_, v in base.unconstrained.items()})
    cand = candidate_pool(budget) if candidates is None else candidates.reset_index(drop=True)
    held = {n: float(v) for n, v in target.at.items() if n in law.inputs and n not in ("N", "D")}
    xc = {"N": jnp.asarray(cand["N"].to_numpy(float)), "D": jnp.asarray(cand["D"].to_numpy(float)),
          **{n: jnp.full(len(cand), v) for n, v in held.items()}}
    cost = cand["C"].to_numpy(float) if "C" in cand else 6.0 * cand["N"].to_numpy(float) * cand["D"].to_numpy(float)

    J = jax.jacfwd(lambda th: law.log_predict_theta(th, data["x"]))(theta) * free
    Jc = jax.jacfwd(lambda th: law.log_predict_theta(th, xc))(theta) * free
    g = jax.grad(T)(theta) * free
    r = np.asarray(law.log_predict_theta(theta, data["x"]) - data["y"])
    r = r[np.asarray(data["w"]) > 0]
    sigma = float(1.4826 * np.median(np.abs(r - np.median(r))))
    J, Jc, g = (np.asarray(a, float) for a in (J, Jc, g))
    wmask = np.asarray(data["w"]) > 0
    info = J[wmask].T @ J[wmask] / sigma**2 + np.diag(1.0 - np.asarray(free))
    Sigma = np.linalg.inv(info) * np.outer(free, free)
    var0 = float(g @ Sigma @ g)
    rows, left, var = [], float(budget), var0
    available = np.ones(len(cand), bool)
    for _ in range(k):  # k small sequential picks; each scores all candidates at once
        Sj = Jc @ Sigma                      # [M, P]
        red = (Sj @ g) ** 2 / (sigma**2 + np.einsum("mp,mp->m", Sj, Jc))
        score = np.where(available & (cost <= left), red / cost, -np.inf)
        m = int(np.argmax(score))
        if not np.isfinite(score[m]):
            break
        s = Sigma @ Jc[m]
        Sigma = Sigma - np.outer(s, s) / (sigma**2 + Jc[m] @ s)
        var = float(g @ Sigma @ g)
        left -= cost[m]
        available[m] = False
        rows.append({"N": float(cand["N"][m]), "D": float(cand["D"][m]), "C": float(cost[m]),
                     "tokens_per_param": float(cand["D"][m] / cand["N"][m]), "sd_after": float(np.sqrt(max(var, 0))),
                     "reduction_per_flop": float(red[m] / cost[m])})
    return Suggestion(law.name, target.text, float(T(theta)), float(np.sqrt(var0)), float(np.sqrt(max(var, 0.0))),
                      sigma, float(budget), float(budget - left), pd.DataFrame(rows))


__all__ = ["Target", "parse_target", "target_fn", "Influence", "influence", "influence_values", "loo_changes",
           "Suggestion", "suggest", "candidate_pool"]
