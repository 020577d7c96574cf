"""Figures (matplotlib): fits and frontiers with credible bands.

Every function takes plain values (a run table, a `Posterior`) and returns the
matplotlib ``Figure``; nothing is shown or saved unless asked (``path=``). Importing this
module leaves the matplotlib backend as the caller set it (without a display, matplotlib
picks a non-interactive one itself).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from scalelab import runs as _runs


def fit_bands(runs, posterior, ci: float = 0.95, max_sizes: int = 8, path=None):
    """Loss against compute ``C = 6ND``, one curve per model size, with the curve's credible band.

    Runs are drawn as points; for up to ``max_sizes`` model sizes (log10 N
    rounded to 0.1, spread over the range) the posterior median curve and its
    ``ci`` band span the compute range of the data.
    """
    table = _runs.read(runs)
    N, D, L = table.column("N"), table.column("D"), table.column("loss")
    C = 6.0 * N * D
    fig, ax = plt.subplots(figsize=(7, 5))
    sizes = np.unique(np.round(np.log10(N), 1))
    pick = sizes[np.unique(np.linspace(0, len(sizes) - 1, min(max_sizes, len(sizes))).round().astype(int))]
    cmap = plt.get_cmap("viridis")
    ax.scatter(C, L, s=8, c="0.6", label="runs")
    for i, lg in enumerate(pick):
        n = 10.0**lg
        cs = np.geomspace(C.min(), C.max(), 60)
        pred = posterior.predict(ci=ci, N=np.full_like(cs, n), D=cs / (6 * n))
        color = cmap(i / max(1, len(pick) - 1))
        ax.plot(cs, pred["median"], color=color, lw=1.5, label=f"N = {n:.2g}")
        ax.fill_between(cs, pred["lo"], pred["hi"], color=color, alpha=0.3)
    ax.set(xscale="log", yscale="log", xlabel="training compute C = 6ND (FLOPs)", ylabel="loss (nats/token)",
           title=f"{posterior.law}: posterior median and {100 * ci:g}% bands ({posterior.likelihood})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def frontier_bands(posterior, C=None, ci: float = 0.95, path=None):
    """Compute-optimal ``N_opt(C)`` and ``D_opt(C)`` with credible bands (C = 6ND)."""
    C = np.geomspace(1e18, 1e26, 40) if C is None else np.asarray(C, float)
    out = posterior.allocate(C, ci=ci)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "N_opt", "N_opt (parameters)"), (axes[1], "D_opt", "D_opt (tokens)")):
        ax.plot(C, out[key]["median"], color="C0")
        ax.fill_between(C, out[key]["lo"], out[key]["hi"], color="C0", alpha=0.3, label=f"{100 * ci:g}% band")
        ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=label)
        ax.legend(fontsize=8)
    fig.suptitle(f"{posterior.law}: compute-optimal frontier ({posterior.likelihood})")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
