"""One memo for programs built per law and setting (jit-compiled fitters, samplers, gradients).

JAX compiles a ``jit`` once per input shape, but only for the *same* function object: a
builder that wraps a fresh closure on every call recompiles every time. `per_law` keeps
one built program per ``(law, settings)``. The law is keyed by identity (a `Law` holds
callables and dicts, so it is not hashed by value), and the memo holds the law itself,
so its id cannot be reused while the entry lives.
"""

from __future__ import annotations

import functools


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


__all__ = ["per_law"]
