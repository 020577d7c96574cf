"""Broken neural scaling law (Caballero et al. 2023, ICLR, arXiv 2210.14891), Eq. 1.

``y = a + b x^-c0 prod_{i=1..n} (1 + (x / d_i)^(1/f_i))^(-c_i f_i)``

Any number of breaks ``n``: `make_bnsl(n, x="C")` builds the law; the registry
holds ``bnsl`` (one break, x = C) and ``bnsl2`` (two breaks). Evaluated in
log space: ``(1 + (x/d)^(1/f))^(-c f) = exp(-c f softplus((log x - log d)/f))``,
so it stays finite at any x. ``x`` is a RunTable column (default ``C``, training
FLOPs); ``y`` is the loss in nats/token.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from scalelab.laws.base import Law, positive


def make_bnsl(n_breaks: int = 1, x: str = "C", name: str | None = None, aliases=()) -> Law:
    """A BNSL with ``n_breaks`` breaks on input column ``x``.

    Parameters: ``a`` (limit), ``b``, ``c0``, then ``c_i``, ``d_i``, ``f_i`` for each break
    (``d_i`` is the break location in units of ``x``; ``f_i`` its sharpness).
    """
    if n_breaks < 0:
        raise ValueError(f"n_breaks must be >= 0, got {n_breaks}")
    brk = [(f"c{i}", f"d{i}", f"f{i}") for i in range(1, n_breaks + 1)]
    params = ("a", "b", "c0") + tuple(p for trio in brk for p in trio)

    def log_reducible(p, xv):
        lx = jnp.log(xv)
        out = jnp.log(p["b"]) - p["c0"] * lx
        for c, d, f in brk:
            out = out - p[c] * p[f] * jax.nn.softplus((lx - jnp.log(p[d])) / p[f])
        return out

    def predict(p, xs):
        return p["a"] + jnp.exp(log_reducible(p, xs[x]))

    def log_predict(u, xs):
        p = law.to_natural(u)
        t1, t2 = jnp.broadcast_arrays(log_reducible(p, xs[x]), u["log_a"])
        return jnp.logaddexp(t1, t2)

    transforms = {"a": positive, "b": positive}
    ranges = {"log_a": (-1.0, 1.0), "log_b": (0.0, 10.0), "c0": (0.0, 0.5)}
    for c, d, f in brk:
        transforms[d] = positive
        transforms[f] = positive
        ranges[c] = (-0.3, 0.3)
        ranges["log_" + d] = (30.0, 55.0) if x == "C" else (15.0, 30.0)
        ranges["log_" + f] = (-2.0, 1.0)
    law = Law(
        name=name or (f"bnsl{n_breaks}" if n_breaks != 1 else "bnsl"),
        aliases=tuple(aliases),
        inputs=(x,),
        params=params,
        predict=predict,
        log_predict=log_predict,
        transforms=transforms,
        start_ranges=ranges,
        reference={},
        citation="Caballero, Gupta, Rish, Krueger 2023, 'Broken Neural Scaling Laws', arXiv 2210.14891, Eq. 1",
        conventions=(f"x = {x} (RunTable column; C = training FLOPs); {n_breaks} break(s); d_i in units of x. "
                     "Build any number of breaks with scalelab.laws.bnsl.make_bnsl(n, x)."),
        description=f"Broken neural scaling law in {x} with {n_breaks} break(s).",
    )
    return law


BNSL = make_bnsl(1, "C", name="bnsl", aliases=("caballero2023", "bnsl1"))
"""BNSL with one break, in training compute C."""

BNSL2 = make_bnsl(2, "C", name="bnsl2")
"""BNSL with two breaks, in training compute C."""
