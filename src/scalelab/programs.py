"""Programs: one memo for programs built per law and setting, and the float64 scope they run in.

JAX compiles a ``jit`` once per input shape, but only for the *same* function object: a
builder that wraps a fresh closure on every call recompiles every time. `per_law` keeps
one built program per ``(law, settings)``. The law is keyed by identity (a `Law` holds
callables and dicts, so it is not hashed by value), and the memo holds the law itself,
so its id cannot be reused while the entry lives.

`call_timed` keeps the executables it compiled, the most recently used `KEEP` of them: an XLA:CPU
executable holds hundreds of memory mappings (about 430 for a forecast's fit, with XLA's default
fusion emitters), and a process that kept every one (a notebook forecasting thirty ladders of
different sizes) reached Linux's 65,530 mappings after about 20 tables and crashed inside LLVM
("Cannot allocate memory", then a segmentation fault). A program evicted and needed again is
compiled again (from the persistent cache when `scalelab.cache` is on).

`float64` runs a public entry point inside ``jax.enable_x64(True)``: fits reproduce published
optima to 1e-9 in float64, while importing scalelab leaves the process's ``jax_enable_x64``
setting alone. Arrays the caller made in float32 (or bfloat16) keep their dtype inside.
"""

from __future__ import annotations

import functools
from collections import OrderedDict


def per_law(build):
    """Decorator: memoise ``build(law, *settings, **options)``; settings and options must be hashable."""
    memo: dict = {}

    @functools.wraps(build)
    def cached(law, *settings, **options):
        key = (id(law), settings, tuple(sorted(options.items())))
        hit = memo.get(key)
        if hit is None or hit[0] is not law:
            hit = (law, build(law, *settings, **options))
            memo[key] = hit
        return hit[1]

    cached.memo = memo
    return cached


# The most recently used compiled programs kept in memory (a forecast uses about 12, a MoE forecast and a posterior
# a few more): 64 x ~430 mappings stays well under Linux's default limit of 65,530 per process
KEEP = 64
_COMPILED: OrderedDict = OrderedDict()


def _signature(args) -> tuple:
    import jax

    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((getattr(a, "shape", ()), str(getattr(a, "dtype", type(a))), getattr(a, "weak_type", None))
                       for a in leaves)


def call_timed(jitted, *args, name: str | None = None, compiler_options: dict | None = None):
    """``(jitted(*args), compile_seconds)``: compilation timed apart from running.

    The first call for an argument signature lowers and compiles ahead of time
    (``jitted.lower(*args).compile()``; with `scalelab.cache` on, a persistent-cache hit
    loads instead of compiling) and keeps the executable, among the `KEEP` most recently
    used; later calls with the same shapes and dtypes run it and report 0 seconds.
    ``name``: a stable name of the program and its settings, for a program built for one of
    scalelab's own laws: its traced form is then kept on disk too (`scalelab.kept.compile_program`),
    so a later process skips tracing; ``compiler_options`` are the XLA options of that kept form.
    """
    import time

    from scalelab import kept

    key = (id(jitted), _signature(args))
    hit = _COMPILED.get(key)
    seconds = 0.0
    if hit is None or hit[0] is not jitted:
        t0 = time.perf_counter()
        hit = (jitted, kept.compile_program(name, jitted, args, compiler_options))
        seconds = time.perf_counter() - t0
        _COMPILED[key] = hit
        while len(_COMPILED) > KEEP:  # the least recently used executable is freed (its mappings with it)
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return hit[1](*args), seconds


def float64(fn):
    """Decorator: call ``fn`` with JAX's 64-bit mode on, restoring the caller's setting on return."""

    @functools.wraps(fn)
    def scoped(*args, **kwargs):
        import jax

        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return scoped


__all__ = ["per_law", "call_timed", "float64"]
