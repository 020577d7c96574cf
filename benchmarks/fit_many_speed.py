"""fit_many throughput: variants x starts of the Chinchilla objective, against SciPy and a vmapped optax L-BFGS.

Same data (Epoch's 240 runs), same process. Each variant is a bootstrap
resample fitted from the full 4,500-start Hoffmann grid (screen all, polish 32).

Anchors (time per start-solve, extrapolated to the whole job):
* SciPy L-BFGS-B from ``--scipy-solves`` (variant, start) pairs (the
  Hoffmann/Epoch procedure; a Python loop by definition);
* ``--optax``: a plain ``jit(vmap(optax.lbfgs))`` with 200 iterations over
  ``--optax-variants`` variants x 4,500 starts (DESIGN.md's measured baseline; ``--optax-starts N``: the first N,
  for a quick check on a CPU, where all 4,500 take about 8 min). Its objective is the best of the starts it ran.

    python benchmarks/fit_many_speed.py --variants 1000            # GPU
    python benchmarks/fit_many_speed.py --variants 20 --optax       # CPU

Issue 14's two GPU targets, one command each (first call = compile + fit, in a fresh process):

    python benchmarks/fit_many_speed.py --variants 10000                       # <= 2 s fitting, first <= 5 s
    python benchmarks/fit_many_speed.py --variants 200 --starts 256 \
        --laws chinchilla,kaplan,gadre2024_overtrain,chen2025_suboptimal       # first call <= 10 s

``--laws`` fits every variant with each law (one compiled program per law, `fit_many`'s list form);
``--starts`` is ``grid`` (each law's own start grid) or a number of random starts per variant. The SciPy
anchor stays the Chinchilla objective from Hoffmann grid starts.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import device_name, epoch_objective_and_grad  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import scalelab  # noqa: E402
from scalelab.data import epoch_chinchilla  # noqa: E402
from scalelab.fit import variants as V  # noqa: E402
from scalelab.fit.many import fit_many  # noqa: E402

jax.config.update("jax_enable_x64", True)  # this script's own JAX reference code runs in float64


def optax_baseline(runs, weights, starts, dtype, iters=200):
    import optax

    law = scalelab.laws.get("chinchilla")
    x = {k: jnp.asarray(v, dtype) for k, v in runs.inputs(("N", "D")).items()}
    y = jnp.log(jnp.asarray(runs.column("loss"), dtype))

    def objective(theta, w):
        r = law.log_predict_theta(theta, x) - y
        return jnp.sum(w * optax.losses.huber_loss(r, delta=1e-3))

    opt = optax.lbfgs()

    def solve(theta0, w):
        f = lambda t: objective(t, w)
        vg = optax.value_and_grad_from_state(f)

        def step(carry, _):
            t, s = carry
            v, g = vg(t, state=s)
            u, s = opt.update(g, s, t, value=v, grad=g, value_fn=f)
            return (optax.apply_updates(t, u), s), None

        (t, _), _ = jax.lax.scan(step, (theta0, opt.init(theta0)), None, length=iters)
        return f(t)

    # the best start per variant; a start that diverged (NaN) must not hide it
    run = jax.jit(jax.vmap(lambda w: jnp.nanmin(jax.vmap(lambda t0: solve(t0, w))(starts)), in_axes=0))
    t0 = time.perf_counter()
    out = run(jnp.asarray(weights, dtype))
    out.block_until_ready()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = run(jnp.asarray(weights, dtype))
    out.block_until_ready()
    return time.perf_counter() - t0, first, np.asarray(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=20)
    ap.add_argument("--scipy-solves", type=int, default=100)
    ap.add_argument("--optax", action="store_true")
    ap.add_argument("--optax-variants", type=int, default=2)
    ap.add_argument("--optax-starts", type=int, default=None,
                    help="the first N of the 4,500 Hoffmann grid starts for the optax baseline (default: all; a quick "
                         "CPU check: 200)")
    ap.add_argument("--dtype", default=None, choices=[None, "float32", "float64"])
    ap.add_argument("--laws", default="chinchilla", help="comma-separated law names (default chinchilla)")
    ap.add_argument("--starts", default="grid", help="'grid' or a number of random starts per variant")
    args = ap.parse_args()

    runs = epoch_chinchilla()
    law = scalelab.laws.get("chinchilla")
    grid = law.grid_starts()
    laws = [scalelab.laws.get(name.strip()) for name in args.laws.split(",")]
    starts = args.starts if args.starts == "grid" else int(args.starts)
    vs = V.bootstrap(runs, args.variants, seed=0)
    dtype = None if args.dtype is None else jnp.dtype(args.dtype)
    per_law = [len(lw.grid_starts()) if starts == "grid" else starts for lw in laws]
    solves = args.variants * sum(per_law)
    print(f"device: {device_name()}")
    print(f"job: {args.variants} bootstrap variants x {' + '.join(f'{s} ({lw.name})' for s, lw in zip(per_law, laws))} "
          f"starts = {solves:,} start-solves on {len(runs)} runs")

    # SciPy anchor on a sample of (variant, start) pairs.
    rng = np.random.default_rng(0)
    logN, logD, logL = (np.log(runs.column(c)) for c in ("N", "D", "loss"))
    t0 = time.perf_counter()
    for _ in range(args.scipy_solves):
        v, s = rng.integers(args.variants), rng.integers(len(grid))
        w = vs.weights[v]
        x0 = grid[s][[1, 2, 0, 3, 4]]
        sel = np.repeat(np.arange(len(w)), w.astype(int))
        optimize.minimize(epoch_objective_and_grad, x0, args=(logN[sel], logD[sel], logL[sel]), jac=True,
                          method="L-BFGS-B")
    scipy_per = (time.perf_counter() - t0) / args.scipy_solves
    print(f"scipy L-BFGS-B: {1e3 * scipy_per:.2f} ms per start-solve -> whole job ~{scipy_per * solves:,.0f} s "
          f"({1 / scipy_per:,.0f} start-solves/s)")

    # scalelab: first call includes compilation.
    t0 = time.perf_counter()
    target = laws[0] if len(laws) == 1 else laws
    df = fit_many(runs, target, vs, starts=starts, dtype=dtype, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = fit_many(runs, target, vs, starts=starts, dtype=dtype, progress=False)
    ours = time.perf_counter() - t0
    print(f"scalelab fit_many: {ours:.2f} s fitting ({solves / ours:,.0f} start-solves/s, "
          f"{args.variants / ours:,.1f} variants/s); first call incl. compile {first:.2f} s; "
          f"converged {df['converged'].mean():.3f}; dtype {args.dtype or 'auto'}")
    print(f"speed-up vs scipy: {scipy_per * solves / ours:,.0f}x")
    if len(laws) > 1:
        print("converged by law: " + ", ".join(
            f"{name} {g['converged'].mean():.3f}" for name, g in df.groupby("law", sort=False)))

    if args.optax:
        nv = min(args.optax_variants, args.variants)
        dt = jnp.float32 if (args.dtype or "float32") == "float32" else jnp.float64
        some = grid[:args.optax_starts] if args.optax_starts else grid  # a rate per start-solve either way
        t_opt, t_first, best = optax_baseline(runs, vs.weights[:nv], jnp.asarray(some, dt), dt)
        rate = nv * len(some) / t_opt
        print(f"optax L-BFGS (vmap, 200 it): {nv} variants x {len(some)} starts in {t_opt:.2f} s "
              f"({rate:,.0f} start-solves/s; compile+run {t_first:.1f} s) -> scalelab is {solves / ours / rate:,.1f}x faster")
        print(f"  objective optax {best[0]:.10f} vs scalelab {df['objective'].iloc[0]:.10f}")


if __name__ == "__main__":
    main()
