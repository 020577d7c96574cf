"""Hyper-parameter laws: optimal batch size and learning rate as power laws.

These laws predict a hyper-parameter, not a loss: each declares ``target``
(the RunTable column it predicts, ``batch_size`` or ``lr``), fitted, like the
loss laws, on log residuals ``log predict - log target``. `scalelab.optimal.hyper`
builds the target column (each sweep cell's optimum) and fits them.

* ``batch_size_loss``: ``B_opt(L) = lambda_B L^-alpha_B`` (Wang et al. 2024, arXiv 2410.05661); Kaplan's
  critical batch ``B_crit = B_star / L^(1/alpha_B)`` is the same form (reference ``kaplan2020``, B in tokens).
* ``lr_loss``: ``lr_opt(L) = lambda_lr L^-alpha_lr`` (Wang et al. 2024; the sign of alpha_lr is a [gap], free).
* ``deepseek_batch_size``: ``B_opt(C) = lambda_B C^alpha_B`` (DeepSeek LLM, arXiv 2401.02954: 0.2920 C^0.3271,
  C in FLOPs, B in tokens).
* ``deepseek_lr``: ``lr_opt(C) = lambda_lr C^-alpha_lr`` (DeepSeek: 0.3118 C^-0.1250).

Units: ``batch_size`` is whatever the run table holds (DeepSeek and Kaplan count tokens; proxy runs
count sequences: multiply by sequence length to compare with the references); ``loss`` nats/token.
"""

import jax.numpy as jnp

from scalelab.laws.base import Law, positive


def _power(coef, expo, col, sign):
    def predict(p, x):
        return p[coef] * x[col] ** (sign * p[expo])

    def log_predict(u, x):
        return u["log_" + coef] + sign * u[expo] * jnp.log(x[col])

    return predict, log_predict


_p, _lp = _power("lambda_B", "alpha_B", "loss", -1.0)
BATCH_SIZE_LOSS = Law(
    name="batch_size_loss",
    aliases=("wang2024_batch_size",),
    inputs=("loss",),
    target="batch_size",
    params=("lambda_B", "alpha_B"),
    predict=_p,
    log_predict=_lp,
    transforms={"lambda_B": positive},
    start_grid={"log_lambda_B": (0.0, 5.0, 10.0, 20.0), "alpha_B": (-2.0, 1.0, 4.0, 8.0)},
    start_ranges={"log_lambda_B": (-5.0, 25.0), "alpha_B": (-5.0, 10.0)},
    reference={"kaplan2020": {"lambda_B": 2e8, "alpha_B": 1.0 / 0.21}},  # B_star 2e8 tokens, alpha_B 0.21 ([review])
    citation="Wang et al. 2024, arXiv 2410.05661 (B_opt vs loss); Kaplan et al. 2020, arXiv 2001.08361, Eq. 5.4",
    conventions="input loss (nats/token) of the run/cell; target batch_size (tokens for the Kaplan reference).",
    description="Optimal batch size vs loss: B_opt = lambda_B L^-alpha_B.",
)
"""Optimal batch size as a power law in the training loss."""

_p, _lp = _power("lambda_lr", "alpha_lr", "loss", -1.0)
LR_LOSS = Law(
    name="lr_loss",
    aliases=("wang2024_lr",),
    inputs=("loss",),
    target="lr",
    params=("lambda_lr", "alpha_lr"),
    predict=_p,
    log_predict=_lp,
    transforms={"lambda_lr": positive},
    start_grid={"log_lambda_lr": (-10.0, -5.0, 0.0), "alpha_lr": (-4.0, -1.0, 1.0, 4.0)},
    start_ranges={"log_lambda_lr": (-15.0, 5.0), "alpha_lr": (-8.0, 8.0)},
    reference={},
    citation="Wang et al. 2024, arXiv 2410.05661 (lr_opt vs loss)",
    conventions="input loss (nats/token); target lr (peak learning rate); alpha_lr free in sign.",
    description="Optimal learning rate vs loss: lr_opt = lambda_lr L^-alpha_lr.",
)
"""Optimal learning rate as a power law in the training loss."""

_p, _lp = _power("lambda_B", "alpha_B", "C", 1.0)
DEEPSEEK_BATCH_SIZE = Law(
    name="deepseek_batch_size",
    aliases=("deepseek2024_batch_size",),
    inputs=("C",),
    target="batch_size",
    params=("lambda_B", "alpha_B"),
    predict=_p,
    log_predict=_lp,
    transforms={"lambda_B": positive},
    start_grid={"log_lambda_B": (-5.0, -1.0, 3.0), "alpha_B": (0.0, 0.3, 0.6)},
    start_ranges={"log_lambda_B": (-15.0, 10.0), "alpha_B": (-0.5, 1.0)},
    reference={"deepseek2024": {"lambda_B": 0.2920, "alpha_B": 0.3271}},  # [review]
    citation="DeepSeek-AI 2024, 'DeepSeek LLM', arXiv 2401.02954, Eq. 1",
    conventions="input C: training FLOPs (DeepSeek count non-embedding FLOPs/token x tokens); target batch_size in tokens.",
    description="Optimal batch size vs compute: B_opt = lambda_B C^alpha_B.",
)
"""DeepSeek's optimal batch size as a power law in compute."""

_p, _lp = _power("lambda_lr", "alpha_lr", "C", -1.0)
DEEPSEEK_LR = Law(
    name="deepseek_lr",
    aliases=("deepseek2024_lr",),
    inputs=("C",),
    target="lr",
    params=("lambda_lr", "alpha_lr"),
    predict=_p,
    log_predict=_lp,
    transforms={"lambda_lr": positive},
    start_grid={"log_lambda_lr": (-8.0, -3.0, 2.0), "alpha_lr": (-0.2, 0.0, 0.2, 0.4)},
    start_ranges={"log_lambda_lr": (-15.0, 5.0), "alpha_lr": (-0.5, 0.8)},
    reference={"deepseek2024": {"lambda_lr": 0.3118, "alpha_lr": 0.1250}},  # [review]
    citation="DeepSeek-AI 2024, 'DeepSeek LLM', arXiv 2401.02954, Eq. 1",
    conventions="input C: training FLOPs; target lr (peak learning rate).",
    description="Optimal learning rate vs compute: lr_opt = lambda_lr C^-alpha_lr.",
)
"""DeepSeek's optimal learning rate as a power law in compute."""

del _p, _lp
