"""Figures of a posterior: fits and frontiers with credible bands; of a point fit, the same curves without bands.

Every function takes plain values (a run table, a `Posterior` or a `FitResult`) and returns a
matplotlib ``Figure`` on its own Agg canvas (`scalelab.report.figures.new_figure`):
importing this module changes no backend and no pyplot state; nothing is shown or
saved unless asked (``path=``). The report's figures (`scalelab.report.figures`) work
from point fits and bootstrap refits too.
"""

from __future__ import annotations

import numpy as np

from scalelab import runs as _runs
from scalelab.report.figures import new_figure


def _kind(model, where: str) -> str:
    """``"posterior"`` for a `Posterior` (bands), ``"fit"`` for a `FitResult` (its curve, no band); else TypeError."""
    from scalelab.fit.api import FitResult

    if isinstance(model, FitResult):
        return "fit"
    from scalelab.bayes.posterior import Posterior  # only now: a point fit's figure loads no sampler

    if isinstance(model, Posterior):
        return "posterior"
    raise TypeError(f"{where}: expected a Posterior (scalelab.bayes.laplace or .sample: curves with credible bands) "
                    f"or a FitResult (scalelab.fit: the curves without bands); got a {type(model).__name__}")


def _title(model, kind: str, ci: float, what: str) -> str:
    if kind == "fit":
        return f"{model.law}: {what} of the point fit ({model.objective_kind}; no bands: use a Posterior for them)"
    return f"{model.law}: {what}, median and {100 * ci:g}% bands ({model.likelihood})"


def fit_bands(runs, posterior, ci: float = 0.95, max_sizes: int = 8, path=None):
    """Loss (nats/token) against compute ``C = 6ND`` FLOPs, one curve per model size, with the curve's credible band.

    Runs are drawn as points; for up to ``max_sizes`` model sizes (log10 N
    rounded to 0.1, spread over the range) the posterior median curve and its
    ``ci`` band span the compute range of the data. ``posterior``: a `Posterior`, or a `FitResult`, whose curves
    are drawn without bands (a point fit has none). Raises TypeError for anything else.
    """
    kind = _kind(posterior, "fit_bands")
    table = _runs.read(runs)
    N, D, L = table.column("N"), table.column("D"), table.column("loss")
    C = 6.0 * N * D
    fig, ax = new_figure(7, 5)
    sizes = np.unique(np.round(np.log10(N), 1))
    pick = sizes[np.unique(np.linspace(0, len(sizes) - 1, min(max_sizes, len(sizes))).round().astype(int))]
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    ax.scatter(C, L, s=8, c="0.6", label="runs")
    for i, lg in enumerate(pick):
        n = 10.0**lg
        cs = np.geomspace(C.min(), C.max(), 60)
        inputs = {"N": np.full_like(cs, n), "D": cs / (6 * n)}
        color = cmap(i / max(1, len(pick) - 1))
        if kind == "fit":
            ax.plot(cs, posterior.predict(**inputs), color=color, lw=1.5, label=f"N = {n:.2g}")
            continue
        pred = posterior.predict(ci=ci, **inputs)
        ax.plot(cs, pred["median"], color=color, lw=1.5, label=f"N = {n:.2g}")
        ax.fill_between(cs, pred["lo"], pred["hi"], color=color, alpha=0.3)
    ax.set(xscale="log", yscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="loss (nats/token)",
           title=_title(posterior, kind, ci, "loss"))
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def frontier_bands(posterior, C=None, ci: float = 0.95, path=None):
    """Compute-optimal ``N_opt(C)`` (parameters) and ``D_opt(C)`` (tokens) with credible bands, at budgets ``C``
    (FLOPs, ``C = 6ND``; default 1e18..1e26). ``posterior``: a `Posterior`, or a `FitResult`, whose frontier is
    drawn without bands (`scalelab.allocate(fit, C)`). Raises TypeError for anything else."""
    kind = _kind(posterior, "frontier_bands")
    C = np.geomspace(1e18, 1e26, 40) if C is None else np.asarray(C, float)
    if kind == "fit":  # a point fit's split (`scalelab.allocate`; fit sits below optimal, so FitResult has no method)
        from scalelab.optimal.frontier import allocate

        out = allocate(posterior, C)
    else:
        out = posterior.allocate(C, ci=ci)
    fig, axes = new_figure(10, 4, ncols=2)
    for ax, key, label in ((axes[0], "N_opt", "N_opt (parameters)"), (axes[1], "D_opt", "D_opt (tokens)")):
        if kind == "fit":
            ax.plot(C, out[key], color="C0", label="point fit")
        else:
            ax.plot(C, out[key]["median"], color="C0")
            ax.fill_between(C, out[key]["lo"], out[key]["hi"], color="C0", alpha=0.3, label=f"{100 * ci:g}% band")
        ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=label)
        ax.legend(fontsize=8)
    fig.suptitle(_title(posterior, kind, ci, "compute-optimal frontier"))
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
