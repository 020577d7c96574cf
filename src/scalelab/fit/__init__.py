"""Fitting: objectives, the batched LM solver, multi-start, `fit`, `fit_many`, variants, compare.

Called, the package is its function: ``scalelab.fit(runs, law, ...)`` is `scalelab.fit.api.fit` (options and
returns there). Names load their modules on first use (``scalelab.fit.fit`` is `scalelab.fit.api.fit`), so that
importing the package, as ``import scalelab`` does, loads no JAX.
"""

import importlib

from scalelab.callable_module import make_callable

_EXPORTS = {
    "FitResult": "scalelab.fit.api",
    "fit": "scalelab.fit.api",
    "MultiStartResult": "scalelab.fit.multistart",
    "multistart": "scalelab.fit.multistart",
    "huber_rho": "scalelab.fit.objectives",
    "prepare": "scalelab.fit.problem",
    "fit_many": "scalelab.fit.many",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scalelab.fit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


__all__ = list(_EXPORTS)

make_callable(__name__)  # scalelab.fit(...) calls scalelab.fit.api.fit(...)
