"""``scalelab.compare``: several laws fitted and scored side by side (the code lives in `scalelab.fit.compare`)."""

from scalelab.fit.compare import compare, compare_one, holdout_mask

__all__ = ["compare", "compare_one", "holdout_mask"]
