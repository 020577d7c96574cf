"""scalelab: differentiable scaling laws in JAX.

Importing scalelab enables JAX's 64-bit mode (``jax_enable_x64``): the fitter
reproduces published optima to 1e-9 in float64. Arrays created with an explicit
float32/bfloat16 dtype (the proxy trainer, GPU runs) keep that dtype.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

from scalelab import laws  # noqa: E402
from scalelab.fit import FitResult, fit  # noqa: E402
from scalelab.optimal.isoflop import isoflop  # noqa: E402
from scalelab.optimal import allocate, chinchilla_allocation  # noqa: E402
from scalelab.runs import RunTable, RunTableError, read  # noqa: E402
from scalelab.runs.data import data_dir  # noqa: E402
from scalelab.simulate import isoflop_design, simulate  # noqa: E402  (the module first: the function then keeps the name)
from scalelab.forecast import Forecast, forecast  # noqa: E402  (likewise: scalelab.forecast is the function)



def report(runs, law="chinchilla", out="report", **kwargs):
    """Write the HTML report with figures (`scalelab.report.report`); returns the path of index.html."""
    from scalelab.report import report as _report

    return _report(runs, law, out, **kwargs)


__version__ = "0.1.0"

__all__ = ["laws", "fit", "FitResult", "allocate", "chinchilla_allocation", "read", "RunTable",
           "RunTableError", "simulate", "isoflop_design", "data_dir", "forecast", "Forecast", "isoflop", "report",
           "__version__"]
