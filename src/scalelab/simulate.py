"""``scalelab.simulate``: synthetic run tables (kept importable; the code lives in `scalelab.runs.simulate`)."""

from scalelab.runs.simulate import isoflop_design, simulate

__all__ = ["isoflop_design", "simulate"]
