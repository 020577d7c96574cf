"""Fitting: objectives, the batched LM solver, multi-start, `fit`."""

from scalelab.fit.api import FitResult, fit
from scalelab.fit.multistart import MultiStartResult, multistart
from scalelab.fit.objectives import huber_rho

__all__ = ["FitResult", "fit", "MultiStartResult", "multistart", "huber_rho"]
