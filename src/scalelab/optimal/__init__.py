"""Compute-optimal decisions: the frontier (closed form or numeric, per posterior draw) and
hyper-parameter laws' optima. Convention: training compute ``C = 6 N D`` FLOPs."""

from scalelab.optimal.closed_form import CHINCHILLA_PARAMS, chinchilla_allocation, closed_form
from scalelab.optimal.frontier import (allocate, allocation_draws, allocation_warnings, frontier, optimal_log_n,
                                       optimum, sensitivities)

__all__ = ["allocate", "closed_form", "chinchilla_allocation", "CHINCHILLA_PARAMS", "frontier", "sensitivities", "optimal_log_n", "optimum",
           "allocation_draws", "allocation_warnings"]
