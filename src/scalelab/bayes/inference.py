"""`sample` (NUTS) and `laplace` (fast Gaussian approximation) for any law."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Mapping

import jax
import numpy as np
import numpyro.distributions as dist
import pandas as pd

from scalelab import laws as _laws
from scalelab import runs as _runs
from scalelab.bayes import reparam as _reparam
from scalelab.bayes.laplace import laplace_core, onehot_groups
from scalelab.bayes.model import prepare_data
from scalelab.bayes.nuts import advance_lanes, nuts_programs, run_once_options
from scalelab.bayes.posterior import Posterior, from_draws
from scalelab.bayes.priors import resolve_priors
from scalelab.bayes.posterior import ESS_MIN, RHAT_MAX
from scalelab.bayes.adjust import _adjusted, _check_adjust, _finish, resolve_adjust  # noqa: F401
from scalelab.levels import is_count
from scalelab.programs import float64, per_law


def _init_theta(table, law, init, likelihood):
    """Unconstrained centre ``[P]``: a FitResult's optimum; a dict (natural or unconstrained) starts a fit polished
    to the optimum (a Gaussian at a rounded, non-optimal point has a meaningless curvature); None runs `fit`."""
    from scalelab.fit import fit

    if isinstance(init, Mapping) or init is None:  # fit reads a dict of values as one start (`fit.api.dict_starts`)
        starts = init if init is not None else "grid" if law.start_grid is not None else 256
        init = fit(table, law, objective="mse" if likelihood == "normal" else "huber", starts=starts)
    if getattr(init, "converged", True) is False:
        warnings.warn(f"the fit that centres the {law.name} posterior did not converge: the Laplace approximation "
                      "(and NUTS's preconditioner) may be off-centre; refit with more starts or fixed parameters",
                      RuntimeWarning, stacklevel=3)
    return np.array([float(init.unconstrained[u]) for u in law.unconstrained_names])


def _prior_precision(law, priors):
    pri = resolve_priors(law, priors)
    return np.array([1.0 / float(pri[u].scale) ** 2 if isinstance(pri[u], dist.Normal) else 0.0
                     for u in law.unconstrained_names])


@per_law
def _laplace_program(law, likelihood, delta, local_density=False):
    """A cached jit of `laplace_core` for one law and likelihood (data, groups and priors traced)."""
    return jax.jit(lambda t, x, y, w, oh, pp: laplace_core(law, t, x, y, w, oh, likelihood, pp, delta,
                                                           local_density=local_density),
                   compiler_options=run_once_options())


def _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta, local_density=False):
    """The Laplace approximation at ``theta0``: ``local_density`` for the `laplace` posterior, the pooled
    form for NUTS's preconditioner (`scalelab.bayes.laplace`)."""
    onehot = onehot_groups(idx, len(labels))
    program = _laplace_program(law, likelihood, float(delta), bool(local_density))
    return program(np.asarray(theta0), x, y, np.ones(np.shape(y)), onehot, _prior_precision(law, priors))


@float64
def laplace(runs, law="chinchilla", *, likelihood: str = "huber", groups=None, priors: Mapping | None = None,
            init=None, draws: int = 4000, seed: int = 0, delta: float = 1e-3, adjust: str | None = "auto") -> Posterior:
    """Gaussian approximation of the posterior around the fit (see `scalelab.bayes.laplace`).

    Same arguments as `sample`; ``draws`` independent draws (rounded down to a multiple of 4) are stored as 4
    pseudo-chains so summaries read the same (R-hat and ESS are None: they mean nothing for
    independent draws). Noise parameters are fixed at their profile estimates
    (``adjust="sandwich"`` adjusts the law's parameters only).
    """
    t0 = time.perf_counter()
    _check_adjust(adjust, groups)
    if not is_count(draws, 4):
        raise ValueError(f"draws must be a whole number >= 4 (4 pseudo-chains of draws // 4 each), got {draws!r}")
    law = _laws.get(law)
    table, x, y, idx, labels = prepare_data(runs, law, groups)
    theta0 = _init_theta(table, law, init, likelihood)
    a = _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta, local_density=True)
    chains = 4
    per = max(1, draws // chains)
    L = np.linalg.cholesky(np.asarray(a["cov"]) + 1e-12 * np.eye(law.n_params))
    z = np.random.default_rng(seed).standard_normal((chains, per, law.n_params))
    th = np.asarray(a["theta"]) + z @ L.T
    out = {un: th[..., i] for i, un in enumerate(law.unconstrained_names)}
    out["log_s"] = np.full((chains, per), float(np.log(a["s"])))
    if likelihood == "student_t":
        out["log_nu"] = np.full((chains, per), float(np.log(a["nu"])))
    if labels:
        out["tau"] = np.full((chains, per), float(a["tau"]))
    post = from_draws(law, likelihood, "laplace", out, delta=delta, groups=labels, n_runs=len(table),
                      seconds=time.perf_counter() - t0)
    return dataclasses.replace(_finish(post, table, law, adjust), seconds=time.perf_counter() - t0)


RETRY_ACCEPT = 0.95


def _nuts_inputs(table, law, x, y, idx, labels, likelihood, priors, delta, init, chains, rng, chart=None, terms=None):
    """Preconditioner ``(phi_fit, chol, constants)``, dispersed chain starts, the power-law terms, the centre
    (unconstrained dict) and whether ``chart`` can serve this table (`reparam.usable`), for one data set.

    ``terms`` None: found from this table (`reparam.power_terms`); ``chart`` None samples the
    law's own coordinates (then ``phi = theta``).
    """
    theta0 = _init_theta(table, law, init, likelihood)
    a = _approx(law, theta0, x, y, idx, labels, likelihood, priors, delta)
    if terms is None:
        found = _reparam.power_terms(law, x, a["theta"]) if chart else ()
        terms = (found, _reparam.free_positives(law, found) if chart == "ridge" else ())
    const = _reparam.constants(*terms, x, a["theta"])
    usable = _reparam.usable(a["theta"], terms[0], chart)
    phi_hat, L = _reparam.precondition(a["theta"], a["cov"], terms, const, chart if usable else None)
    # Chains start at independent draws of the Laplace approximation: w ~ Normal(0, I).
    z0 = {"w": rng.standard_normal((chains, law.n_params)),
          "log_s": np.full((chains,), float(np.log(a["s"])))}
    if likelihood == "student_t":
        z0["log_nu"] = np.full((chains,), float(np.log(a["nu"])))
    if labels:
        # numpyro's unconstrained space: tau (positive) is stored as log tau.
        z0["tau"] = np.full((chains,), float(np.log(max(float(a["tau"]), 1e-3))))
        z0["z"] = np.zeros((chains, len(labels)))
    return (phi_hat, L, const), z0, terms, dict(zip(law.unconstrained_names, np.asarray(theta0, float))), usable


def _stack(trees):
    """Stacked on the host (NumPy): a jnp op on NumPy arrays compiles a small program per shape."""
    return jax.tree.map(lambda *v: np.stack([np.asarray(u) for u in v]), *trees)


@float64
def sample_many(datasets, law="chinchilla", *, likelihood: str = "huber", groups=None,
                priors: Mapping | None = None, chains: int = 4, draws: int = 1000, warmup: int = 1000,
                seed: int = 0, inits=None, delta: float = 1e-3, target_accept: float = 0.8,
                chunk: int = 100, dense_mass: bool = True, vectorize: int | None = None,
                progress: bool | None = None, adjust: str | None = "auto", extend: int = 2,
                reparam: str | None = "ridge", retry: bool = True) -> list[Posterior]:
    """NUTS posteriors of ``law`` for several run tables at once (one program, vmapped).

    Every table must have the same number of runs (and groups): the chains of all data
    sets advance together in one compiled program (calibration studies, simulated
    truths, per-subset posteriors). Same model, priors and settings as `sample`, which
    is this function with one table.

    Args:
      datasets: a list of run tables (paths, DataFrames or `RunTable`) of equal length.
      inits: None (each table is fitted with `scalelab.fit`) or one init per table
        (see `sample`).
      chunk: iterations per compiled call; the progress bar advances per chunk.
      dense_mass: adapt a dense mass matrix during warm-up (default). On top of the Laplace
        preconditioner it still matters where the posterior is curved (E-A-alpha on small
        tables): 50 simulated 40-run sets gave R-hat > 1.01 on 3 with dense, 11 with diagonal.
      vectorize: chains advanced in lock-step under ``vmap`` per batch; None: 1 on a
        CPU (sequential chains are faster there, measured), all on an accelerator.
      progress: show a tqdm bar (default: when more than one data set or more than
        1,000 iterations).
      adjust: ``"auto"`` (default; `resolve_adjust`), None, or ``"sandwich"``: map each posterior's
        draws to the sandwich covariance (`scalelab.bayes.sandwich`), for intervals that hold when
        the law is misspecified.
      extend: rounds of running on the data sets whose R-hat exceeds 1.01 or whose effective sample size is below
        400 (each runs three times the draws kept so far and keeps the last twice as many; a note in
        ``Posterior.warnings``). 0: never.
      reparam: the coordinates NUTS moves in (`scalelab.bayes.reparam`): ``"ridge"`` (default:
        each power-law term ``c / x**e`` by its value and its slope at the design's centre, a free
        positive parameter such as E on its natural scale), ``"centre"`` (each term's value at the
        centre: affine, so the preconditioner already does it) or None (the law's own). The
        posterior is the same (the chart's Jacobian is in the density); on 12-run tables the ridge
        chart mixes where the law's own coordinates leave chains stranded (RESULTS.md, "Small tables").
        Laws without such terms, or fits with an exponent <= 0, are sampled in their own coordinates.
      retry: tables whose R-hat still exceeds 1.01 after the run-on rounds, or that had divergent
        transitions, are sampled again from fresh
        starts with target acceptance 0.95 and twice the warm-up; the better-mixed draws answer, and
        ``warnings`` and ``Posterior.sampler`` say which. What is still unconverged after that is
        returned with its diagnostics: ``Posterior.converged`` is False and ``to_json`` lists why.
      Other arguments: see `sample`.

    Returns:
      One `Posterior` per table, in order; ``seconds`` is the total wall time divided
      evenly.
    """
    t0 = time.perf_counter()
    _check_adjust(adjust, groups)
    law = _laws.get(law)
    if likelihood not in ("huber", "normal", "student_t"):
        raise ValueError(f"unknown likelihood {likelihood!r}; choose 'huber', 'normal' or 'student_t'")
    for name, v, least in (("chains", chains, 1), ("draws", draws, 1), ("chunk", chunk, 1), ("warmup", warmup, 0)):
        if not is_count(v, least):
            raise ValueError(f"{name} must be a whole number >= {least}, got {v!r}")
    if not 0.0 < float(target_accept) < 1.0:
        raise ValueError(f"target_accept is NUTS' target acceptance probability, in (0, 1) (numpyro's default 0.8); "
                         f"got {target_accept!r}")
    if isinstance(datasets, (str, os.PathLike, pd.DataFrame, _runs.RunTable)):  # list() would iterate its columns
        raise TypeError(f"sample_many takes a list of run tables; for one {type(datasets).__name__} use bayes.sample")
    datasets = list(datasets)
    if not datasets:
        raise ValueError("sample_many needs at least one run table")
    inits = [None] * len(datasets) if inits is None else list(inits)
    if len(inits) != len(datasets):
        raise ValueError(f"inits has {len(inits)} entries for {len(datasets)} data sets")
    prepared = [prepare_data(runs, law, groups) for runs in datasets]  # check every table before any fit
    shapes = [(len(p[0]), len(p[4])) for p in prepared]
    if len(set(shapes)) > 1:
        raise ValueError(f"sample_many: every table needs the same number of runs and groups; "
                         f"got (runs, groups) = {sorted(set(shapes))}")
    if reparam not in _reparam.CHARTS:
        raise ValueError(f"reparam={reparam!r}: choose 'ridge', 'centre' or None")

    def inputs(chart, inits):
        args, starts, terms, centres, ok = [], [], None, [], []
        for (table, x, y, idx, labels), init in zip(prepared, inits):
            precond, z0, terms, theta0, usable = _nuts_inputs(table, law, x, y, idx, labels, likelihood, priors, delta,
                                                              init, chains, np.random.default_rng(seed + len(args)),
                                                              chart, terms)
            group = np.zeros(len(table), np.int32) if idx is None else np.asarray(idx)
            args.append((x, y, group if labels else None, precond))
            starts.append(z0)
            centres.append(theta0)
            ok.append(usable)
        return args, starts, terms, centres, all(ok)

    args, starts, terms, centres, usable = inputs(reparam, inits)
    if not usable:
        # The ridge chart samples the log of each term's slope: a fit with an exponent <= 0 is sampled in
        # the law's own coordinates (the whole batch, so that one program serves it).
        reparam = None
        args, starts, terms, centres, _ = inputs(None, centres)
    chart = reparam if terms[0] else None
    sampler = (f"NUTS, target acceptance {target_accept:g}, {warmup} warm-up, " +
               ("the law's own coordinates" if chart is None else
                f"{chart} chart ({', '.join(law.params[i] for i, _, _ in terms[0])} as their terms' "
                + ("values and slopes" if chart == "ridge" else "values") + " at the design's centre"
                + "".join(f", {law.params[k]} on its natural scale" for k in terms[1]) + ")"))
    n_runs, n_groups = shapes[0]
    n_sets = len(datasets)
    vectorize_given = vectorize
    if vectorize is None:
        vectorize = 1 if jax.default_backend() == "cpu" else n_sets * chains
    # lane = set * chains + chain; host arrays (NumPy), moved to the device by the compiled programs
    lane_args = jax.tree.map(lambda v: np.repeat(v, chains, axis=0), _stack(args))
    lane_z0 = jax.tree.map(lambda v: v.reshape((n_sets * chains,) + v.shape[2:]), _stack(starts))
    settings = (likelihood, n_groups, float(delta), float(target_accept), warmup, chunk, dense_mass, int(vectorize),
                terms, chart)
    # Programs with the default priors are kept; user priors (distributions, not hashable) build a fresh one.
    init_fn, advance, constrain = nuts_programs(law, priors, settings)
    states = init_fn(jax.random.split(jax.random.PRNGKey(seed), n_sets * chains), lane_z0, lane_args)
    total = warmup + draws
    show = (n_sets > 1 or total > 1000) if progress is None else progress
    bar = _tqdm(total=-(-total // chunk) * chunk, desc=f"NUTS {n_sets} data set(s) x {chains} chains",
                disable=not show)
    states, hist = advance_lanes(advance, states, lane_args, total, chunk, bar)
    per_set_runs: dict = {}
    first_diag: dict = {}
    take = lambda t, lanes, cut=slice(None): tuple(  # noqa: E731
        jax.tree.map(lambda v: np.asarray(v)[lanes][:, cut], u) for u in t)
    lanes_of = lambda d: np.arange(d * chains, (d + 1) * chains)  # noqa: E731
    per_set = {d: take(hist, lanes_of(d), slice(warmup, total)) for d in range(n_sets)}  # post-warm-up draws

    def build(d, notes=()):
        z, diverging, num_steps = per_set[d]
        sites = constrain(z, jax.tree.map(lambda v: v[lanes_of(d)], lane_args))
        samples = {k: np.asarray(v) for k, v in sites.items() if k != "w"}
        return from_draws(law, likelihood, "nuts", samples, sample_stats={"diverging": diverging, "num_steps": num_steps},
                          delta=delta, groups=prepared[d][4], n_runs=n_runs, seconds=0.0, warnings=notes,
                          sampler=sampler)

    posts = [build(d) for d in range(n_sets)]
    # Chains that disagree (R-hat > 1.01), or that agree with too few effective draws (ESS < 400), run on from where
    # they stand (adaptation done, the same compiled step): each round runs three times the draws kept so far and
    # keeps the last twice as many, the earlier iterations counting as more warm-up. Small tables need it: the E-alpha
    # ridge of a 12-run table is long and curved, and 1,000 draws cover it only a few times (RESULTS.md, "Small tables").
    kept = draws
    for _ in range(int(extend)):  # 12-20-run tables: ESS 350-400 at 4 x 1,000 draws, R-hat fine
        diag = [p.diagnostics() for p in posts]
        failing = [d for d, g in enumerate(diag) if g["rhat_max"] > RHAT_MAX or g["ess_min"] < ESS_MIN]
        if not failing:
            break
        lanes = np.concatenate([lanes_of(d) for d in failing])
        sub_states, new = advance_lanes(advance, jax.tree.map(lambda v: v[lanes], states),
                                         jax.tree.map(lambda v: v[lanes], lane_args), 3 * kept, chunk, None)
        states = jax.tree.map(lambda full, sub: full.at[lanes].set(sub), states, sub_states)
        for j, d in enumerate(failing):
            rows = np.arange(j * chains, (j + 1) * chains)
            before = first_diag.setdefault(d, diag[d])
            joined = tuple(jax.tree.map(lambda o, n: np.concatenate([o, np.asarray(n)[rows]], 1), ot, nt)
                           for ot, nt in zip(per_set[d], new))
            per_set[d] = take(joined, np.arange(chains), slice(-2 * kept, None))
            ran = per_set_runs.get(d, draws) + joined[1].shape[1] - kept
            per_set_runs[d] = ran
            posts[d] = build(d, notes=(f"R-hat {before['rhat_max']:.3f}, ESS {before['ess_min']:.0f} after {warmup} "
                                       f"warm-up and {draws} draws per chain: the chains ran on to {warmup + ran} "
                                       f"iterations, the last {2 * kept} kept",))
        kept *= 2
    if bar is not None:
        bar.close()
    # Still R-hat > 1.01, or divergent transitions: sample those tables again from a fresh start, with smaller steps and a longer
    # adaptation (target acceptance RETRY_ACCEPT, twice the warm-up), and keep whichever agrees better.
    # A chain that adapted its step and mass matrix in the far tail of the ridge (exponent -> 0, E -> 0) can
    # stay there for thousands of iterations; a fresh adaptation with smaller steps usually does not.
    def mixed(p):  # (mixed, R-hat): R-hat <= 1.01 and no divergent transitions
        d = p.diagnostics()
        return d["rhat_max"] <= RHAT_MAX and d["divergences"] == 0, d["rhat_max"]

    failing = [d for d, p in enumerate(posts) if not mixed(p)[0]]
    if failing and retry:
        again = sample_many([prepared[d][0] for d in failing], law, likelihood=likelihood, groups=groups, priors=priors,
                            chains=chains, draws=draws, warmup=2 * max(int(warmup), 500), seed=seed + 1,
                            inits=[centres[d] for d in failing], delta=delta,
                            target_accept=max(RETRY_ACCEPT, float(target_accept)), chunk=chunk,
                            dense_mass=dense_mass, vectorize=vectorize_given, progress=False, adjust=None, extend=extend,
                            reparam=reparam, retry=False)
        for d, p in zip(failing, again):
            (ok0, r0), (ok1, r1) = mixed(posts[d]), mixed(p)
            div0, div1 = posts[d].diagnostics()["divergences"], p.diagnostics()["divergences"]
            note = (f"R-hat {r0:.3f} ({div0} divergent) after {warmup} warm-up, {draws} draws and {int(extend)} "
                    f"run-on round(s): sampled again with target acceptance "
                    f"{max(RETRY_ACCEPT, float(target_accept)):g} and {2 * max(int(warmup), 500)} warm-up: "
                    f"R-hat {r1:.3f} ({div1} divergent)")
            if (ok1, -r1) > (ok0, -r0):
                posts[d] = dataclasses.replace(p, warnings=(*p.warnings, note + " (these draws answer)"))
            else:
                posts[d] = dataclasses.replace(posts[d], warnings=(*posts[d].warnings, note + " (the first draws answer)"))
    seconds = (time.perf_counter() - t0) / len(datasets)
    posts = [dataclasses.replace(_finish(p, prep[0], law, adjust), seconds=seconds) for p, prep in zip(posts, prepared)]
    return posts


def _tqdm(**kw):
    from tqdm.auto import tqdm

    return tqdm(**kw)


@float64
def sample(runs, law="chinchilla", *, likelihood: str = "huber", groups=None, priors: Mapping | None = None,
           chains: int = 4, draws: int = 1000, warmup: int = 1000, seed: int = 0, init=None,
           delta: float = 1e-3, target_accept: float = 0.8, progress: bool | None = None,
           adjust: str | None = "auto", extend: int = 2, reparam: str | None = "ridge",
           retry: bool = True) -> Posterior:
    """NUTS posterior of ``law`` given ``runs`` (numpyro; all chains in one compiled program).

    Args:
      runs: path, DataFrame or `RunTable` (columns the law needs, and ``loss``).
      law: registered name or `Law`.
      likelihood: ``"huber"`` (Epoch's Huber density, learned scale), ``"normal"``
        or ``"student_t"`` (learned degrees of freedom), on log-loss residuals.
      groups: None (i.i.d. residuals), ``"N"`` (a random offset per model size,
        ``log10 N`` rounded to 0.1), a column name, or one label per run.
      priors: overrides of the default priors (`scalelab.bayes.priors`).
      chains, draws, warmup: NUTS settings (see `sample_many` for how chains are run on CPU vs accelerators).
      seed: PRNG seed; same inputs and seed give the same draws.
      init: the fit to start from: a `FitResult` (its optimum), or a natural or unconstrained dict
        (a fit's start, polished to the optimum); None runs `scalelab.fit`. NUTS is preconditioned by the Laplace covariance
        around it (see `make_model`), and chains start at independent draws from that
        approximation, so they are dispersed for R-hat to mean something.
      delta: Huber threshold (standardised units; Epoch: 1e-3).
      target_accept: NUTS target acceptance probability (numpyro's default 0.8).
      progress: tqdm bar over iterations (default: when more than 1,000 iterations).
      extend: rounds of running on while R-hat > 1.01 or ESS < 400 (see `sample_many`).
      reparam, retry: the coordinates NUTS moves in, and the second pass for tables still at
        R-hat > 1.01 (see `sample_many`).
      adjust: ``"auto"`` (default): ``"sandwich"`` on i.i.d. models of tables with at least
        `scalelab.bayes.sandwich.min_runs` runs (120 for chinchilla), None otherwise
        (`resolve_adjust`). None (the posterior given the law), or ``"sandwich"`` (i.i.d. models only):
        keep the posterior's centre and shape, widen or narrow it to the sandwich covariance
        ``Sigma J Sigma`` (Müller 2013; `scalelab.bayes.sandwich`). For large tables where the law
        misses structure in the data: on the 240-run Epoch table it brings beta's 95% interval
        from 0.5x to ~0.8x the case bootstrap's (E, alpha ~1.1x, ~1.3x). It is asymptotic: with
        a correct model it changes little, but on small tables (40 runs, Huber likelihood) its
        asymptotic form over-covers (benchmarks/RESULTS.md, "Sandwich adjustment"); below 120
        runs it is shrunk (`scalelab.bayes.sandwich`) and says so in ``warnings``.

    Returns:
      `Posterior`: ``method`` says what answered (``"nuts"``; ``sampler`` how: coordinates, target
      acceptance, warm-up, and whether a second pass answered), ``warnings`` the identifiability
      of the table and fit (`scalelab.fit.identify`), the adjustment made or not, and any run-on
      rounds; ``converged`` whether R-hat <= 1.01, ESS >= 400 and no divergences
      (``.check()`` warns).
    """
    return sample_many([runs], law, likelihood=likelihood, groups=groups, priors=priors, chains=chains,
                       draws=draws, warmup=warmup, seed=seed, inits=[init], delta=delta,
                       target_accept=target_accept, progress=progress, adjust=adjust, extend=extend,
                       reparam=reparam, retry=retry)[0]
