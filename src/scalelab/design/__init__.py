"""Decisions from a fit: forecast targets, the influence of each run on one, and which runs to train next."""

from scalelab.design.influence import Influence, influence, influence_values, loo_changes
from scalelab.design.next_runs import Suggestion, candidate_pool, flops, laplace_state, suggest
from scalelab.design.select import gradient_design, separation, sequential_variance
from scalelab.design.targets import QUANTITIES, Target, parse_target, target_fn

__all__ = ["Target", "parse_target", "target_fn", "QUANTITIES", "Influence", "influence", "influence_values",
           "loo_changes", "Suggestion", "suggest", "candidate_pool", "flops", "laplace_state", "sequential_variance",
           "gradient_design", "separation"]
