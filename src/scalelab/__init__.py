"""scalelab: differentiable scaling laws in JAX.

The public face, flat and lazy: ``scalelab.read``, ``RunTable``, ``laws``, ``fit``, ``fit_many``,
``variants``, ``bayes``, ``allocate``, ``influence``, ``suggest``, ``compare``, ``simulate``, ...
Each name imports its module on first use, so ``import scalelab`` (and the command line's
``--help``) loads no JAX. Importing scalelab changes nothing global: float64 is switched on
inside the functions that need it (``jax.enable_x64``), not for the whole process.
"""

from __future__ import annotations

import importlib

# `scalelab.fit` and `scalelab.simulate` are modules that are also callable (`scalelab.callable_module`): calling one
# calls its function of the same name, and ``import scalelab.fit.many as m`` finds the package's submodule (a function
# of that name hid the package). Both are cheap to import: they load nothing until used.
import scalelab.fit as _fit_package  # noqa: F401
import scalelab.simulate as _simulate_module  # noqa: F401

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None: the module itself
_EXPORTS = {
    "read": ("scalelab.runs", "read"),
    "write": ("scalelab.runs", "write"),
    "RunTable": ("scalelab.runs", "RunTable"),
    "RunTableError": ("scalelab.runs", "RunTableError"),
    "from_dataframe": ("scalelab.runs", "from_dataframe"),
    "data_dir": ("scalelab.runs.data", "data_dir"),
    "isoflop_design": ("scalelab.runs.simulate", "isoflop_design"),
    "laws": ("scalelab.laws", None),
    "Law": ("scalelab.laws", "Law"),
    "FitResult": ("scalelab.fit.api", "FitResult"),
    "fit_many": ("scalelab.fit.many", "fit_many"),
    "variants": ("scalelab.fit.variants", None),
    "compare": ("scalelab.compare", None),
    "bayes": ("scalelab.bayes", None),
    "optimal": ("scalelab.optimal", None),
    "allocate": ("scalelab.optimal", "allocate"),
    "chinchilla_allocation": ("scalelab.optimal", "chinchilla_allocation"),
    "frontier": ("scalelab.optimal", "frontier"),
    "design": ("scalelab.design", None),
    "influence": ("scalelab.design", "influence"),
    "suggest": ("scalelab.design", "suggest"),
    "runs": ("scalelab.runs", None),
    "proxy": ("scalelab.proxy", None),
    "plot": ("scalelab.plot", None),
    # modules that are also callable (calling one calls its function of the same name)
    "forecast": ("scalelab.forecast", None),
    "Forecast": ("scalelab.forecast", "Forecast"),
    "report": ("scalelab.report", None),
    "isoflop": ("scalelab.optimal.isoflop", "isoflop"),
}


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'scalelab' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = ["fit", "simulate", *_EXPORTS, "__version__"]
