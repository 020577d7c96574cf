"""``scalelab.simulate``: synthetic run tables (kept importable; the code lives in `scalelab.runs.simulate`).

Called, the module is its function: ``scalelab.simulate(law, params, inputs, ...)`` is
`scalelab.runs.simulate.simulate`.
"""

from scalelab.callable_module import make_callable


def __getattr__(name: str):
    if name in ("simulate", "isoflop_design"):
        from scalelab.runs import simulate as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'scalelab.simulate' has no attribute {name!r}")


__all__ = ["isoflop_design", "simulate"]

make_callable(__name__)  # scalelab.simulate(...) calls scalelab.runs.simulate.simulate(...)
