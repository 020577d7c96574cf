"""How the next runs are picked (`suggest`'s two selection methods), on the Laplace variance of a target.

* `sequential_variance`: the target's variance as runs are added (Sherman-Morrison updates).
* `_greedy`: a fixed-budget greedy pick from a candidate pool.
* `gradient_design`: the k runs' compute shares and tokens per parameter by Adam on the log variance.

Both keep the picks at least ``min_separation`` decades apart in (log10 N, log10 D) (`separation`).
Units: N parameters, D tokens, C = 6 N D FLOPs (or the law's own cost).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from scalelab.programs import float64, per_law


def sequential_variance(Sigma, g, sigma, Jc):
    """Target variance after adding runs one at a time (Sherman-Morrison rank-one updates).

    ``Sigma`` ``[P, P]`` the current covariance, ``g`` ``[P]`` the gradient of the
    target, ``sigma`` the log-loss noise sd of a new run, ``Jc`` ``[m, P]`` the
    gradients of the new runs' predicted log loss. Returns ``var [m + 1]`` (before
    and after each added run) and the final covariance.
    """
    Sigma = np.array(Sigma, float)
    var = [float(g @ Sigma @ g)]
    for j in np.asarray(Jc, float):
        s = Sigma @ j
        Sigma = Sigma - np.outer(s, s) / (sigma**2 + j @ s)
        var.append(float(g @ Sigma @ g))
    return np.array(var), Sigma


FAIR_SHARE = 0.5  # each greedy pick spends at least this fraction of its share of what is left
MIN_SEPARATION = 0.25  # decades: default least distance between two new runs in (log10 N, log10 D)


def separation(N, D):
    """Least pairwise distance between runs in (log10 N, log10 D), in decades (``inf`` for < 2 runs).
    0.25 is e.g. a factor 1.5 in both N and D, or 1.78 in one of them."""
    z = np.c_[np.log10(np.asarray(N, float)), np.log10(np.asarray(D, float))]
    if len(z) < 2:
        return float("inf")
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    return float(d[np.triu_indices(len(z), 1)].min())


def _greedy(Sigma, g, sigma, Jc, cost, k, left, logs=None, min_separation=0.0):
    """Greedy fixed-budget pick from a pool: each step adds the candidate that removes the most
    target variance among those that fit in what is left of the budget after reserving the
    cheapest candidate's cost for each pick still to come, and that spend at least
    ``FAIR_SHARE`` of their share (what is left / picks to come) when any such candidate fits.
    The floor spends the budget (at least ~70% of it for k = 4): the Laplace variance assumes
    the law exact, and by it alone many small runs often look as good as a few large ones, which
    leaves most of a budget the user meant to spend unspent. With ``logs`` (``[M, 2]``, the
    candidates' log10 N, log10 D), a candidate closer than ``min_separation`` decades to a run
    already chosen is not eligible: by the Laplace variance alone (the law exact) repeating
    one design point is often optimal, which bets the whole budget on the law's form.
    Returns the chosen indices."""
    available = np.ones(len(cost), bool)
    chosen = []
    cheapest = float(np.min(cost))
    for i in range(k):  # k small sequential picks; each scores all candidates at once
        Sj = Jc @ Sigma                      # [M, P]
        red = (Sj @ g) ** 2 / (sigma**2 + np.einsum("mp,mp->m", Sj, Jc))
        reserve = (k - 1 - i) * cheapest
        fits = available & (cost <= left - reserve + 1e-12 * abs(left))
        if logs is not None and min_separation > 0 and chosen:
            near = np.sqrt(((logs[:, None, :] - logs[None, chosen, :]) ** 2).sum(-1)).min(1) < min_separation
            fits &= ~near
        big = fits & (cost >= FAIR_SHARE * left / (k - i))
        score = np.where(big if big.any() else fits, red, -np.inf)
        m = int(np.argmax(score))
        if not np.isfinite(score[m]):
            break
        s = Sigma @ Jc[m]
        Sigma = Sigma - np.outer(s, s) / (sigma**2 + Jc[m] @ s)
        left -= cost[m]
        available[m] = False
        chosen.append(m)
    return chosen


def _solve_log_n(cost, C, r, n_newton=30):
    """``log N`` with ``cost(N, r N) = C``: Newton in log N without gradients, then one
    differentiable Newton step, whose derivative is the implicit one ``-(df/dC) / (df/dv)``."""
    f = lambda v, C_, r_: jnp.log(cost(jnp.exp(v), r_ * jnp.exp(v))) - jnp.log(C_)  # noqa: E731
    df = jax.grad(lambda v, C_, r_: jnp.sum(f(v, C_, r_)))
    Cs, rs = jax.lax.stop_gradient(C), jax.lax.stop_gradient(r)
    v = jax.lax.fori_loop(0, n_newton, lambda _, v: v - f(v, Cs, rs) / df(v, Cs, rs), 0.5 * jnp.log(Cs / (6.0 * rs)))
    v = jax.lax.stop_gradient(v)
    return v - f(v, C, r) / jax.lax.stop_gradient(df(v, Cs, rs))


@float64
def gradient_design(law, theta, Sigma, g, sigma, budget, k, *, init_C=None, init_r=None, min_fraction=0.01,
                    tokens_per_param=(1.0, 1000.0), held=None, free=None, cost=None, steps=300,
                    learning_rate=0.05, min_separation=0.0):
    """Optimise ``k`` runs jointly by gradient (optax Adam) of the target's Laplace variance.

    The budget is spent by construction: run ``i`` gets ``C_i = budget * (m + (1 - k m) p_i)``
    FLOPs with ``p = softmax(z)`` over ``k`` logits and ``m = min_fraction``, so every run has at
    least ``m * budget`` and the total is ``budget`` (by the Laplace variance alone, which assumes
    the law exact, a few small runs often look as good as large ones; a budget given for k runs
    is meant to be spent); its tokens per parameter ``r_i`` is a sigmoid inside ``tokens_per_param``.
    ``N_i = sqrt(C_i / 6 r_i)`` (or solves ``cost(N, r N) = C_i``), ``D_i = r_i N_i``.
    The variance ``g^T (Sigma^-1 + Jc^T Jc / sigma^2)^-1 g`` is differentiable in the
    runs through ``Jc`` (forward-over-reverse). Runs closer than ``min_separation`` decades in
    (log10 N, log10 D) are pushed apart by a penalty (zero once they are ``SEPARATION_MARGIN x
    min_separation`` apart), and only steps whose runs are all ``min_separation`` apart count:
    by the variance alone (the law exact) the runs often collapse onto one or two design points.
    Returns ``(N [k], D [k], C [k], var)`` at the best such step of the trajectory (the initial
    point included, so it is never worse than a start that keeps the separation; ``var = inf``
    when no step does).
    """
    if not 0 <= min_fraction * k < 1:
        raise ValueError(f"min_fraction * k must be in [0, 1), got {min_fraction} x {k}")
    lo, hi = (float(np.log(v)) for v in tokens_per_param)
    P = Sigma.shape[0]
    free = np.ones(P) if free is None else np.asarray(free, float)
    held = dict(held or {})
    # information form on the free block (identity on fixed parameters, whose g is 0)
    prec0 = np.linalg.inv(Sigma + np.diag(1.0 - free)) * np.outer(free, free)
    C0 = np.full(k, budget / (k + 1)) if init_C is None else np.asarray(init_C, float)
    r0 = np.full(k, 20.0) if init_r is None else np.asarray(init_r, float)
    p0 = np.clip((C0 / budget - min_fraction) / (1.0 - k * min_fraction), 1e-9, None)
    p0 = p0 / p0.sum()
    q0 = np.clip((np.log(r0) - lo) / (hi - lo), 1e-6, 1 - 1e-6)
    params0 = (jnp.asarray(np.log(p0)), jnp.asarray(np.log(q0) - np.log1p(-q0)))
    program = _gradient_program(law, k, steps, learning_rate, tuple(sorted(held)), cost)
    (N, D, C), var = program(params0, jnp.asarray(theta), jnp.asarray(prec0), jnp.asarray(g) * free,
                             jnp.asarray(free), jnp.asarray(sigma), jnp.asarray(budget), jnp.asarray(min_fraction),
                             jnp.asarray(lo), jnp.asarray(hi), {n: jnp.asarray(v) for n, v in held.items()},
                             jnp.asarray(float(min_separation)))
    return np.asarray(N), np.asarray(D), np.asarray(C), float(var)


SEPARATION_MARGIN = 1.2  # the gradient penalty keeps runs this many min_separations apart, so the optimum
SEPARATION_WEIGHT = 100.0  # of the penalised objective still keeps min_separation; weight vs log variance


@per_law
def _gradient_program(law, k, steps, learning_rate, held_names, cost):
    """A cached jit of the Adam loop of `gradient_design` for one law, k and setting."""
    import optax

    opt = optax.adam(learning_rate)

    def program(params0, theta, prec0, g, free, sigma, budget, m, lo, hi, held, sep):
        def runs(params):
            z, u = params
            p = jax.nn.softmax(z)
            C = budget * (m + (1.0 - k * m) * p[:k])
            r = jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(u))
            N = jnp.sqrt(C / (6.0 * r)) if cost is None else jnp.exp(_solve_log_n(cost, C, r))
            return N, r * N, C

        iu = jnp.triu_indices(k, 1)

        def distances(N, D):  # pairwise distances in (log10 N, log10 D), decades [k (k - 1) / 2]
            z = jnp.stack([jnp.log10(N), jnp.log10(D)], -1)
            d2 = jnp.sum((z[:, None, :] - z[None, :, :]) ** 2, -1)[iu]
            return jnp.sqrt(d2 + 1e-12)

        def log_var(params):  # log of the target's variance after adding the k runs
            N, D, _ = runs(params)
            x = {"N": N, "D": D, **{n: jnp.full((k,), v) for n, v in held.items()}}
            Jc = jax.jacfwd(lambda th: law.log_predict_theta(th, x))(theta) * free
            prec = prec0 + Jc.T @ Jc / sigma**2 + jnp.diag(1.0 - free)
            return jnp.log(g @ jnp.linalg.solve(prec, g))

        def objective(params):  # + a hinge penalty on runs closer than the margin (0 when they are not)
            N, D, _ = runs(params)
            d = distances(N, D)
            short = jax.nn.relu(1.0 - d / jnp.maximum(SEPARATION_MARGIN * sep, 1e-12))
            f = log_var(params)
            return f + SEPARATION_WEIGHT * jnp.sum(short**2) * (sep > 0), (f, jnp.all(d >= sep * (1.0 - 1e-9)))

        def step(carry, _):
            prm, state = carry
            (_, (f, ok)), grad = jax.value_and_grad(objective, has_aux=True)(prm)
            upd, state = opt.update(grad, state, prm)
            return (optax.apply_updates(prm, upd), state), (f, ok, prm)

        (last, _), (fs, ok, trail) = jax.lax.scan(step, (params0, opt.init(params0)), None, length=steps)
        _, (f_last, ok_last) = objective(last)
        fs, ok = jnp.r_[fs, f_last], jnp.r_[ok, ok_last]
        trail = jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), trail, last)
        fs = jnp.where(jnp.isfinite(fs) & ok, fs, jnp.inf)
        best = jnp.argmin(fs)
        return runs(jax.tree.map(lambda a: a[best], trail)), jnp.exp(fs[best])

    return jax.jit(program)


__all__ = ["sequential_variance", "separation", "gradient_design", "MIN_SEPARATION", "FAIR_SHARE"]
