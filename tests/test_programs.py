"""`scalelab.programs.call_timed` keeps a bounded number of compiled programs.

A process that kept every executable it compiled (a notebook forecasting many ladders of different sizes) ran out
of memory mappings inside LLVM and crashed; the least recently used programs are now freed.
"""

import gc
import weakref
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np

from scalelab import programs


def test_call_timed_frees_the_least_recently_used_programs(monkeypatch):
    monkeypatch.setattr(programs, "KEEP", 3)
    monkeypatch.setattr(programs, "_COMPILED", OrderedDict())
    double = jax.jit(lambda x: 2.0 * x + 1.0)
    kept = {}
    for n in range(1, 6):  # five shapes: five programs
        out, seconds = programs.call_timed(double, jnp.arange(n, dtype=jnp.float32))
        np.testing.assert_allclose(np.asarray(out), 2.0 * np.arange(n) + 1.0)
        assert seconds > 0.0  # compiled on first use
        kept[n] = weakref.ref(next(reversed(programs._COMPILED.values()))[1])
    assert len(programs._COMPILED) == 3
    gc.collect()
    assert kept[1]() is None and kept[2]() is None  # the two oldest executables were freed
    assert kept[5]() is not None
    # a kept program runs without compiling, and becomes the most recently used
    out, seconds = programs.call_timed(double, jnp.arange(3, dtype=jnp.float32))
    assert seconds == 0.0
    programs.call_timed(double, jnp.arange(6, dtype=jnp.float32))  # evicts the least recent: shape 4, not 3
    assert programs.call_timed(double, jnp.arange(3, dtype=jnp.float32))[1] == 0.0
    # an evicted program is compiled again when needed, with the same answer
    out, seconds = programs.call_timed(double, jnp.arange(1, dtype=jnp.float32))
    assert seconds > 0.0
    np.testing.assert_allclose(np.asarray(out), [1.0])
    assert len(programs._COMPILED) == 3
