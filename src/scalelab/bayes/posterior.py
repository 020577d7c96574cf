"""`Posterior`: draws of a law's parameters, backed by ArviZ InferenceData.

The posterior group holds the law's unconstrained parameters (``log_A``,
``alpha``, ...), the noise parameters (``log_s``; ``log_nu`` for Student-t;
``tau`` and ``z`` with group offsets), with dims ``(chain, draw)``. Natural
parameters (``A = exp(log_A)``) are derived on demand. Intervals are
equal-tailed credible intervals from draw quantiles.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import laws as _laws
from scalelab.optimal.closed_form import compute_budgets
from scalelab.optimal.frontier import allocation_draws
from scalelab.bayes.likelihoods import noise_distribution
from scalelab.programs import float64
from scalelab.levels import check_ci
from scalelab.runs.amounts import law_inputs

RHAT_MAX = 1.01
ESS_MIN = 400


def _arviz():
    """ArviZ, imported on first use (only the Posterior needs it; `scalelab.fit` never loads it).

    Its FutureWarnings at import are silenced for the import alone (a scoped filter).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def _interval(draws, ci, axis=0) -> dict:
    q = (1 - check_ci(ci)) / 2
    lo, med, hi = np.quantile(draws, [q, 0.5, 1 - q], axis=axis)
    return {"mean": np.mean(draws, axis=axis), "median": med, "lo": lo, "hi": hi}


@dataclasses.dataclass(frozen=True)
class Posterior:
    """Posterior draws of ``law``'s parameters given a run table.

    Attributes:
      law: the `Law` (a loaded posterior resolves its saved name once, at `load`).
      likelihood: ``"huber"``, ``"normal"`` or ``"student_t"``.
      method: ``"nuts"`` or ``"laplace"``.
      idata: ArviZ InferenceData (posterior, and sample_stats for NUTS).
      delta: the Huber density's threshold.
      groups: labels of the groups with offsets (empty: no offsets).
      n_runs: runs the posterior conditions on.
      seconds: wall time, compilation included.
      adjustment: ``""`` (the posterior as sampled) or ``"sandwich"`` (draws mapped to the
        misspecification-robust sandwich covariance, `scalelab.bayes.sandwich`).
      warnings: what the caller should know about this posterior: identifiability of the table
        and the fit (`scalelab.fit.identify`), how the sampler got there (longer warm-up), and
        why an adjustment was or was not applied. Convergence warnings (R-hat, ESS) are computed
        from the draws by `check` / `problems`, and travel with `save`.
      sampler: how NUTS answered: target acceptance, warm-up and the coordinates it moved in
        (`scalelab.bayes.reparam`); ``""`` for Laplace draws. A re-run after R-hat > 1.01 says so here
        and in ``warnings``.
    """

    law: _laws.Law
    likelihood: str
    method: str
    idata: object
    delta: float = 1e-3
    groups: tuple = ()
    n_runs: int = 0
    seconds: float = 0.0
    adjustment: str = ""
    warnings: tuple = ()
    sampler: str = ""

    # -- draws -------------------------------------------------------------
    def _flat(self, name) -> np.ndarray:
        v = np.asarray(self.idata.posterior[name].values)
        return v.reshape((-1,) + v.shape[2:])

    @property
    def theta(self) -> np.ndarray:
        """Unconstrained draws ``[S, P]`` (chains concatenated) in the law's order."""
        return np.stack([self._flat(un) for un in self.law.unconstrained_names], axis=-1)

    @float64
    def draws(self) -> dict:
        """Natural-parameter draws ``{name: [S]}``, plus the noise scale ``s`` (and ``nu``, ``tau``)."""
        law = self.law
        out = {k: np.asarray(v) for k, v in law.to_natural(law.unflatten(jnp.asarray(self.theta))).items()}
        out["s"] = np.exp(self._flat("log_s"))
        if "log_nu" in self.idata.posterior:
            out["nu"] = np.exp(self._flat("log_nu"))
        if "tau" in self.idata.posterior:
            out["tau"] = self._flat("tau")
        return out

    @property
    def n_draws(self) -> int:
        return int(self.theta.shape[0])

    # -- summaries -----------------------------------------------------------
    def params(self, ci: float = 0.95) -> dict:
        """``{name: {mean, median, lo, hi}}`` for natural and noise parameters (``ci`` credible interval)."""
        return {k: {kk: float(vv) for kk, vv in _interval(v, ci).items()} for k, v in self.draws().items()}

    def diagnostics(self) -> dict:
        """``rhat_max`` and ``ess_min`` (bulk and tail) over the law and noise parameters, divergences.

        For the Laplace approximation (independent draws, no chains) ``rhat_max`` and ``ess_min``
        are None: they mean nothing there.
        """
        if self.method == "laplace":
            return {"rhat_max": None, "ess_min": None, "divergences": 0}
        az = _arviz()
        names = self._diag_names()
        post = self.idata.posterior[names]
        rhat = az.rhat(post)
        ess_b = az.ess(post, method="bulk")
        ess_t = az.ess(post, method="tail")
        div = 0
        if hasattr(self.idata, "sample_stats") and "diverging" in self.idata.sample_stats:
            div = int(self.idata.sample_stats["diverging"].values.sum())
        return {
            "rhat_max": float(max(float(rhat[n].max()) for n in names)),
            "ess_min": float(min(min(float(ess_b[n].min()), float(ess_t[n].min())) for n in names)),
            "divergences": div,
        }

    def _diag_names(self) -> list:
        # Laplace draws hold the noise parameters fixed (constant draws have no R-hat).
        noise = [] if self.method == "laplace" else [v for v in ("log_s", "log_nu", "tau") if v in self.idata.posterior]
        return [*self.law.unconstrained_names, *noise]

    def problems(self, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN, d: dict | None = None) -> list[str]:
        """Convergence failures as sentences (empty: the checks pass; always empty for Laplace)."""
        d = self.diagnostics() if d is None else d
        out = []
        if d["rhat_max"] is not None and not d["rhat_max"] <= rhat_max:
            out.append(f"R-hat {d['rhat_max']:.3f} > {rhat_max}: the chains disagree and the intervals are not "
                       f"to be trusted; run more warm-up/draws (--warmup, --samples) or check the model")
        if d["ess_min"] is not None and not d["ess_min"] >= ess_min:
            out.append(f"effective sample size {d['ess_min']:.0f} < {ess_min:g}: intervals are noisy; draw more")
        if d["divergences"]:
            out.append(f"{d['divergences']} divergent transitions; intervals may be biased")
        return out

    @property
    def converged(self) -> bool:
        """Whether the default checks (R-hat <= 1.01, ESS >= 400, no divergences) pass."""
        return not self.problems()

    def check(self, rhat_max: float = RHAT_MAX, ess_min: float = ESS_MIN) -> dict:
        """`diagnostics`, warning (``UserWarning``) when R-hat or ESS fall short."""
        d = self.diagnostics()
        for msg in self.problems(rhat_max, ess_min, d):
            warnings.warn(msg, stacklevel=2)
        return d

    def summary(self, ci: float = 0.95):
        """ArviZ summary table (mean, sd, HDI, ESS, R-hat) of the unconstrained and noise parameters."""
        az = _arviz()
        names = self._diag_names()
        return az.summary(self.idata, var_names=names, hdi_prob=ci)

    # -- predictions ---------------------------------------------------------
    @float64
    def predict(self, ci: float = 0.95, seed: int = 0, **inputs) -> dict:
        """Loss at ``inputs`` (e.g. ``N=1e9, D=2e10``; arrays broadcast) with credible intervals.

        Returns arrays: ``median``/``mean``/``lo``/``hi`` of the law's prediction
        (the curve; uncertainty in the parameters only), and ``new_lo``/``new_hi``
        for the loss of one new run (plus, for grouped models, a new group's
        offset, plus the likelihood's noise). Nats per token.
        """
        law = self.law
        check_ci(ci)
        inputs = law_inputs(law.name, law.inputs, inputs)  # as FitResult.predict and the CLI check them
        x = {k: jnp.asarray(inputs[k]) for k in law.inputs}
        logp = np.asarray(jax.vmap(lambda t: law.log_predict_theta(t, x))(jnp.asarray(self.theta)))
        S = logp.shape[0]
        d = self.draws()
        key = jax.random.PRNGKey(seed)
        k1, k2 = jax.random.split(key)
        # one noise draw per posterior draw, shared by every point: a point's new-run interval is the same whatever
        # other points are asked with it (drawn per point, it moved by ~1e-3 with their number and order)
        s = jnp.asarray(d["s"]).reshape((S,) + (1,) * (logp.ndim - 1))
        nu = jnp.asarray(d["nu"]).reshape(s.shape) if "nu" in d else None
        noise = noise_distribution(self.likelihood, s, nu, self.delta).sample(k1)
        if "tau" in d:
            noise = noise + jnp.asarray(d["tau"]).reshape(s.shape) * jax.random.normal(k2, s.shape)
        curve = _interval(np.exp(logp), ci)
        q = (1 - ci) / 2
        new = np.quantile(np.exp(logp + np.asarray(noise)), [q, 1 - q], axis=0)
        return {**curve, "new_lo": new[0], "new_hi": new[1]}

    @float64
    def allocate(self, C, ci: float = 0.95, extra=None) -> dict:
        """Compute-optimal ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` at budgets ``C`` (FLOPs, C = 6ND).

        Each is ``{mean, median, lo, hi}`` of arrays of the shape of ``C`` (0-d for a scalar ``C``), and ``C`` is
        returned as given, as `scalelab.allocate` returns a point fit's. Closed form for
        chinchilla, numeric in JAX for other laws of N and D (``extra``: other
        inputs held fixed).
        """
        C = compute_budgets(C)
        # draws [S, K] over the budgets flattened, then each budget's interval back in C's shape
        out = allocation_draws(self.law, self.theta, C.ravel(), extra)
        res = {k: _interval(np.reshape(v, (-1, *C.shape)), ci) for k, v in out.items()}
        res["C"] = C
        return res

    @float64
    def recommend(self, hyper_law, hyper_params, C, ci: float = 0.95) -> dict:
        """A hyper-parameter law's recommendation at the compute-optimal point of budgets ``C``, with intervals.

        ``hyper_law``: e.g. ``"batch_size_loss"`` / ``"lr_loss"`` (inputs: ``loss``) or
        ``"deepseek_batch_size"`` / ``"deepseek_lr"`` (inputs: ``C``). ``hyper_params``: its
        natural parameters (a point estimate, e.g. from `scalelab.optimal.hyper.fit_hyper_laws`) or a
        `Posterior` of it (draws paired with this posterior's). Laws of the loss are evaluated at
        each draw's optimal loss at ``C``, so the interval carries the loss law's uncertainty.
        Returns ``{mean, median, lo, hi}`` arrays of the shape of ``C`` (0-d for a scalar ``C``, as `allocate`).
        """
        hl = _laws.get(hyper_law)
        C = compute_budgets(C)
        shape, C = C.shape, C.ravel()
        unknown = set(hl.inputs) - {"loss", "C"}
        if unknown:
            raise ValueError(f"hyper-parameter law {hl.name!r} needs inputs {sorted(unknown)}; only loss and C are supplied")
        loss = allocation_draws(self.law, self.theta, C)["loss"]  # [S, K]
        if isinstance(hyper_params, Posterior):
            hp = {k: np.asarray(v) for k, v in hyper_params.draws().items() if k in hl.params}
            idx = np.arange(loss.shape[0]) % len(next(iter(hp.values())))
            hp = {k: v[idx][:, None] for k, v in hp.items()}
        else:
            missing = [k for k in hl.params if k not in hyper_params]
            if missing:
                raise ValueError(f"hyper_params lack {missing} of law {hl.name!r} (its parameters: {list(hl.params)})")
            hp = {k: float(hyper_params[k]) for k in hl.params}
        x = {"loss": loss, "C": np.broadcast_to(C, loss.shape)}
        rec = np.asarray(hl(hp, **{k: x[k] for k in hl.inputs}))
        return _interval(np.reshape(np.broadcast_to(rec, loss.shape), (-1, *shape)), ci)

    # -- IO --------------------------------------------------------------------
    def to_json(self, ci: float = 0.95) -> dict:
        """The stable object of ``scalelab bayes --json``."""
        d = self.diagnostics()
        problems = self.problems(d=d)
        return {"law": self.law.name, "params": self.params(ci), "ci": float(ci), "rhat_max": d["rhat_max"],
                "ess_min": d["ess_min"], "seconds": float(self.seconds), "likelihood": self.likelihood,
                "method": self.method, "groups": len(self.groups), "n_runs": int(self.n_runs),
                "divergences": d["divergences"], "adjustment": self.adjustment or None,
                "converged": not problems, "warnings": [*self.warnings, *problems],
                "sampler": self.sampler or None}

    def save(self, path) -> Path:
        """Write the InferenceData (with this object's metadata in the posterior's attrs) as netCDF."""
        path = Path(path)
        d = self.diagnostics()
        meta = {"law": self.law.name, "likelihood": self.likelihood, "method": self.method, "delta": self.delta,
                "groups": list(self.groups), "n_runs": self.n_runs, "seconds": self.seconds,
                "adjustment": self.adjustment, "warnings": list(self.warnings), "sampler": self.sampler,
                "diagnostics": d,
                "problems": self.problems(d=d)}
        self.idata.posterior.attrs["scalelab"] = json.dumps(meta, default=str)
        self.idata.to_netcdf(str(path), engine="h5netcdf")
        return path


def load(path) -> Posterior:
    """Read a posterior written by `Posterior.save` (or ``scalelab bayes --save``).

    A posterior saved after failing its checks (R-hat, ESS, divergences) is loaded, with a
    ``UserWarning`` per failure: every later use (``predict``/``allocate --posterior``) says so.
    """
    az = _arviz()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such posterior file (write one with `scalelab bayes --save`)")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a posterior file (write one with `scalelab bayes --save`)")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        raw = idata.posterior.attrs.get("scalelab")
    except Exception as e:  # h5py/netCDF raise many types for files that are not theirs
        why = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a posterior file written by `scalelab bayes --save` ({why})") from e
    if raw is None:
        raise ValueError(f"{path}: not a scalelab posterior (no 'scalelab' metadata in its posterior attrs)")
    meta = json.loads(raw)
    post = Posterior(law=_laws.get(meta["law"]), likelihood=meta["likelihood"], method=meta["method"], idata=idata,
                     delta=float(meta["delta"]), groups=tuple(meta["groups"]), n_runs=int(meta["n_runs"]),
                     seconds=float(meta["seconds"]), adjustment=meta.get("adjustment", ""),
                     warnings=tuple(meta.get("warnings", ())), sampler=meta.get("sampler", ""))
    # Recomputed from the stored draws (files written before diagnostics were saved are checked too).
    for msg in post.problems():
        warnings.warn(f"{path}: this posterior failed its checks when drawn: {msg}", stacklevel=2)
    return post


def from_draws(law, likelihood, method, draws: dict, *, sample_stats=None, delta=1e-3, groups=(), n_runs=0,
               seconds=0.0, adjustment="", warnings=(), sampler="") -> Posterior:
    """A `Posterior` from ``{site: array [chain, draw, ...]}``."""
    az = _arviz()
    dims = {"z": ["group"]} if "z" in draws else None
    coords = {"group": [str(g) for g in groups]} if "z" in draws else None
    idata = az.from_dict(posterior={k: np.asarray(v) for k, v in draws.items()},
                         sample_stats=None if sample_stats is None else {k: np.asarray(v) for k, v in sample_stats.items()},
                         coords=coords, dims=dims)
    return Posterior(law=law, likelihood=likelihood, method=method, idata=idata, delta=delta,
                     groups=tuple(groups), n_runs=n_runs, seconds=seconds, adjustment=adjustment,
                     warnings=tuple(warnings), sampler=sampler)
