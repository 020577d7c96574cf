"""``scalelab.simulate``: synthetic run tables (kept importable; the code lives in `scalelab.runs.simulate`)."""


def __getattr__(name: str):
    if name in ("simulate", "isoflop_design"):
        from scalelab.runs import simulate as _module

        return getattr(_module, name)
    raise AttributeError(f"module 'scalelab.simulate' has no attribute {name!r}")


__all__ = ["isoflop_design", "simulate"]
