"""The compiled NUTS programs of `scalelab.bayes.sample_many`: built once per model setting, kept traced.

`nuts_programs` returns ``init``, ``advance`` and ``constrain`` over "lanes" (one chain of one data
set each); `advance_lanes` runs them chunk by chunk. With the default priors a program is built once
per law and setting (`scalelab.programs.per_law`) and, for scalelab's own laws, kept traced on disk
(`scalelab.kept.compile_program`), so a second process neither traces nor compiles it.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
from numpyro.infer.hmc import hmc
from numpyro.infer.util import constrain_fn, potential_energy

from scalelab import laws as _laws
from scalelab.bayes.model import make_model
from scalelab.programs import call_timed, per_law


def nuts_programs(law, priors, settings: tuple):
    """``(init, advance, constrain)`` for ``law`` under ``settings`` (see `_build` for the order).

    Programs with the default priors (``priors`` None) are kept; user priors (distributions, not hashable)
    build fresh ones, traced in this process only.
    """
    if priors is not None:
        return _build(law, priors, *settings)
    init, advance, constrain = _default_priors(law, *settings)
    once = run_once_options()
    kept = lambda program, part, options: (  # noqa: E731
        lambda *args: call_timed(program, *args, name=_laws.program_name(f"nuts.{part}", law, repr(settings)),
                                 compiler_options=options)[0])
    return kept(init, "init", once), kept(advance, "advance", None), kept(constrain, "constrain", once)


def _build(law, priors, likelihood, n_groups, delta, target_accept, warmup, chunk, dense_mass, vectorize,
                  terms=((), ()), chart=None):
    """Compiled NUTS for one model setting, over "lanes" (one chain of one data set each).

    Returns ``init(keys, z0, args)``, ``advance(states, args)`` (``chunk`` more iterations of
    every lane) and ``constrain(z, args)`` (unconstrained draws -> every site). Built on
    numpyro's functional NUTS (`numpyro.infer.hmc.hmc`). ``vectorize`` lanes advance in
    lock-step under ``vmap`` (each NUTS iteration then waits for the lane with the deepest
    tree), the batches one after another (``lax.map``): on a CPU one lane at a time is the
    fastest (measured: 4 Epoch chains 0.6 s vs 0.9-1.1 s per 100 warm-up iterations, and
    a smaller program to compile); on an accelerator all lanes at once. Data and
    preconditioner are traced arguments, so the programs are reused for every call with
    equal shapes.
    """
    model = make_model(law, likelihood, priors, n_groups, delta, preconditioned=True, terms=terms, chart=chart)
    # Built from numpyro's pure helpers, not `initialize_model`, which evaluates the model op
    # by op outside jit (~150 small compilations, ~5 s on a CPU) to find starts we do not use.
    potential_fn_gen = lambda *args: functools.partial(potential_energy, model, args, {})  # noqa: E731
    postprocess_gen = lambda *args: functools.partial(constrain_fn, model, args, {},  # noqa: E731
                                                      return_deterministic=True)
    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")

    def init_one(rng_key, z0, args):
        return init_kernel(z0, warmup, dense_mass=[tuple(sorted(z0))] if dense_mass else [],
                           target_accept_prob=target_accept, model_args=args, rng_key=rng_key)

    def advance_one(lane):
        state, args = lane

        def step(st, _):
            st = sample_kernel(st, model_args=args)
            return st, (st.z, st.diverging, st.num_steps)
        return jax.lax.scan(step, state, None, length=chunk)

    def advance(states, args):
        return jax.lax.map(advance_one, (states, args), batch_size=vectorize if vectorize > 1 else None)

    def constrain(z, args):  # z: [lane, draw, ...]
        return jax.vmap(lambda zl, al: jax.vmap(postprocess_gen(*al))(zl))(z, args)

    # init and constrain run once per call: on a CPU, XLA's optimisation passes cost more than
    # they save there (init: 2.4 s -> 1.0 s to compile on the 2-core CPU, measured); the sampler
    # keeps them (at -O0 it compiles no faster and samples 3-5x slower).
    once = run_once_options()
    return (jax.jit(jax.vmap(init_one), compiler_options=once), jax.jit(advance),
            jax.jit(constrain, compiler_options=once))


def run_once_options():
    """XLA options for programs that run once per call (CPU: no backend optimisation)."""
    return {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None


_default_priors = per_law(lambda law, *settings: _build(law, None, *settings))


def advance_lanes(advance, states, args, iterations, chunk, bar):
    """Run ``iterations`` (rounded up to ``chunk``) more NUTS steps of every lane; ``(states, (z, div, steps))``."""
    outs = []
    for _ in range(-(-int(iterations) // chunk)):
        states, out = advance(states, args)
        outs.append(jax.tree.map(np.asarray, out))
        if bar is not None:
            bar.update(chunk)
    hist = tuple(jax.tree.map(lambda *v: np.concatenate(v, axis=1), *[o[i] for o in outs]) for i in range(3))
    return states, hist


__all__ = ["nuts_programs", "advance_lanes", "run_once_options"]
