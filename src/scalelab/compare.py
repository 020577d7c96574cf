"""``scalelab.compare``: several laws fitted and scored side by side (the code lives in `scalelab.fit.compare`).

Called, the module is its function: ``scalelab.compare(runs, laws)`` is ``scalelab.compare.compare(runs, laws)``.
"""

from scalelab.callable_module import make_callable
from scalelab.fit.compare import compare, compare_one, holdout_mask

__all__ = ["compare", "compare_one", "holdout_mask"]

make_callable(__name__)
