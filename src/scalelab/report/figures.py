"""The report's figures: matplotlib `Figure` objects drawn on the Agg canvas.

Nothing here touches pyplot's global state or the backend: each function builds a
``matplotlib.figure.Figure``, attaches a ``FigureCanvasAgg`` and returns it; `save`
writes it as a PNG of a fixed pixel size (``figsize * dpi``, no tight bounding box), so a
figure's size is known before it is drawn.

Conventions: compute ``C`` in FLOPs (the table's ``C`` column, else ``6ND``), ``N``
parameters as the law counts them, ``D`` tokens, loss in nats per token; bands are
equal-tailed intervals over bootstrap (or posterior) draws of the law's parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100


def new_figure(width: float = 8.0, height: float = 5.0, ncols: int = 1, nrows: int = 1):
    """A Figure on its own Agg canvas and its axes (no pyplot)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, (axes[0, 0] if nrows * ncols == 1 else axes.ravel())


def save(fig, path) -> Path:
    """Write ``fig`` as a PNG of exactly ``figsize * DPI`` pixels; returns the path."""
    path = Path(path)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def pixel_size(fig) -> tuple[int, int]:
    w, h = fig.get_size_inches()
    return int(round(w * DPI)), int(round(h * DPI))


def plain_log_axis(axis) -> None:
    """Tick labels like 2.5 instead of 2.5x10^0 on a log axis that spans less than a decade or two."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    lo, hi = axis.get_view_interval()
    if lo <= 0 or hi / lo > 30:  # wide ranges read better as powers of ten
        return
    fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_locator(LogLocator(subs=(2, 3, 5)))
    axis.set_minor_formatter(fmt)


def _cmap(n):
    import matplotlib

    cm = matplotlib.colormaps["viridis"]
    return [cm(0.9 * i / max(1, n - 1)) for i in range(n)]


def _band(values, ci):
    q = 50 * (1 - ci)
    lo, hi = np.nanpercentile(values, [q, 100 - q], axis=0)
    return lo, hi


def size_groups(N, max_sizes: int = 8):
    """Model-size groups (log10 N rounded to 0.1) and up to ``max_sizes`` of them spread over the range."""
    key = np.round(np.log10(N), 1)
    sizes = np.unique(key)
    pick = sizes[np.unique(np.linspace(0, len(sizes) - 1, min(max_sizes, len(sizes))).round().astype(int))]
    return key, pick


# --- (a) loss against compute ---------------------------------------------------------------------


def loss_vs_compute(ctx, ci: float = 0.9, max_sizes: int = 8, label: str = "(a) "):
    """Runs, the fitted law per model size, its ``ci`` band, and the held-out largest runs marked.

    ``ctx`` is the report's context (`scalelab.report.Context`): table columns, the law, its
    point parameters ``params`` and draws ``draws`` (dict of arrays ``[B]``).
    """
    fig, ax = new_figure(8, 5)
    N, C, L = ctx.col("N"), ctx.compute, ctx.col("loss")
    key, pick = size_groups(N, max_sizes)
    colors = dict(zip(pick, _cmap(len(pick))))
    ax.scatter(C, L, s=12, c="0.65", zorder=1, label="runs")
    curves = []
    for g in pick:  # one evaluation of the law for all sizes (one shape: one compiled kernel set)
        rows = key == g
        n = float(np.median(N[rows]))
        k = float(np.median(C[rows] / ctx.col("D")[rows]))  # FLOPs per token of this size
        cs = np.geomspace(C[rows].min() / 1.5, C[rows].max() * 1.5, 60)
        curves.append((g, rows, n, cs, {"N": np.full_like(cs, n), "D": cs / k, **ctx.held_inputs(rows, cs.size)}))
    x = {name: np.concatenate([c[4][name] for c in curves]) for name in curves[0][4]}
    point = ctx.predict(ctx.params, x).reshape(len(curves), -1)
    band = None if ctx.draws is None else _band(ctx.predict(ctx.draws, x), ci)
    for i, (g, rows, n, cs, _) in enumerate(curves):
        ax.scatter(C[rows], L[rows], s=14, color=colors[g], zorder=2)
        ax.plot(cs, point[i], color=colors[g], lw=1.6, zorder=3, label=f"N = {n:.3g}")
        if band is not None:
            sl = slice(i * cs.size, (i + 1) * cs.size)
            ax.fill_between(cs, band[0][sl], band[1][sl], color=colors[g], alpha=0.25, lw=0)
    held = ctx.heldout
    if held is not None and held.any():
        ax.scatter(C[held], L[held], s=60, facecolors="none", edgecolors="crimson", lw=1.5, zorder=4,
                   label=f"held out (largest {ctx.holdout_by})")
    ax.set(xscale="log", yscale="log", xlabel="training compute C (FLOPs)", ylabel="loss (nats/token)",
           title=f"{label}{ctx.law.name}: loss against compute, fit and {100 * ci:g}% band ({ctx.band_method})")
    plain_log_axis(ax.yaxis)
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


# --- (b) compute-optimal frontier --------------------------------------------------------------


def frontier(ctx, frontier_out: dict, iso=None, ci: float = 0.9):
    """``N_opt(C)``, ``D_opt(C)`` and tokens per parameter with bands; Approach 2 minima overlaid."""
    fig, axes = new_figure(12, 4.2, ncols=3)
    C = frontier_out["C"]
    for ax, key, label in zip(axes, ("N_opt", "D_opt", "tokens_per_param"),
                              ("N_opt (parameters)", "D_opt (tokens)", "tokens per parameter")):
        ax.plot(C, frontier_out[key], color="C0", lw=1.8, label=f"Approach 3 ({ctx.law.name})")
        if f"{key}_lo" in frontier_out:
            ax.fill_between(C, frontier_out[f"{key}_lo"], frontier_out[f"{key}_hi"], color="C0", alpha=0.25, lw=0,
                            label=f"{100 * ci:g}% band")
        if iso is not None:
            for m, marker, color in (("akima", "o", "C3"), ("parabola", "x", "C1")):
                if m not in iso.methods:
                    continue
                vals = {"N_opt": iso.methods[m]["N_opt"], "D_opt": iso.methods[m]["D_opt"]}
                vals["tokens_per_param"] = vals["D_opt"] / vals["N_opt"]
                ok = np.isfinite(vals[key])
                ax.scatter(iso.budgets[ok], vals[key][ok], marker=marker, color=color, s=30, zorder=3,
                           label=f"Approach 2 ({m})")
        ax.set(xscale="log", yscale="log", xlabel="compute C (FLOPs)", ylabel=label)
        if key == "tokens_per_param":
            plain_log_axis(ax.yaxis)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    extra = f", {', '.join(f'{k}={v:g}' for k, v in ctx.extra.items())} held" if ctx.extra else ""
    fig.suptitle(f"(b) compute-optimal frontier under C = 6ND{extra}", fontsize=11)
    fig.tight_layout()
    return fig


# --- (c) residuals ------------------------------------------------------------------------------


def residuals(ctx):
    """Relative residuals ``loss_pred / loss - 1`` (%) against tokens per parameter and against N."""
    fig, axes = new_figure(12, 4.2, ncols=2)
    N, D, L = ctx.col("N"), ctx.col("D"), ctx.col("loss")
    r = 100 * (ctx.predict(ctx.params, ctx.inputs) / L - 1)
    held = ctx.heldout if ctx.heldout is not None else np.zeros(len(L), bool)
    for ax, x, label in ((axes[0], D / N, "tokens per parameter D/N"), (axes[1], N, "N (parameters)")):
        sc = ax.scatter(x[~held], r[~held], c=np.log10(N[~held]), cmap="viridis", s=14)
        if held.any():
            ax.scatter(x[held], r[held], s=50, facecolors="none", edgecolors="crimson", lw=1.5, label="held out")
            ax.legend(fontsize=7)
        ax.axhline(0, color="0.3", lw=1)
        ax.set(xscale="log", xlabel=label, ylabel="residual: predicted / observed - 1 (%)")
        ax.grid(True, alpha=0.3)
    fig.colorbar(sc, ax=axes[1], label="log10 N")
    fig.suptitle(f"(c) residuals of the {ctx.law.name} fit (all runs)", fontsize=11)
    fig.tight_layout()
    return fig


# --- (d) influence ------------------------------------------------------------------------------


def influence(ctx, infl, label_top: int = 5):
    """Influence of each run on the headline forecast (the change when the run is removed, one Newton step:
    `scalelab.design.influence`)."""
    fig, ax = new_figure(8, 4.5)
    N = ctx.col("N")
    v = np.asarray(infl.influence, float)
    rel = 100 * v / infl.value
    sc = ax.scatter(N, rel, c=np.log10(ctx.col("D") / N), cmap="plasma", s=16)
    fig.colorbar(sc, ax=ax, label="log10 tokens per parameter")
    top = np.argsort(-np.abs(rel))[:label_top]
    for i in top:
        name = f"line {infl.lines[i]}" if infl.lines is not None else f"row {infl.rows[i] if infl.rows is not None else i}"
        ax.annotate(name, (N[i], rel[i]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="0.3", lw=1)
    ax.set(xscale="log", xlabel="N (parameters)", ylabel="change of the forecast if removed (%)",
           title=f"(d) influence of each run on {infl.target} = {infl.value:.4g}")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


# --- (e) law comparison -------------------------------------------------------------------------


def law_comparison(rows: list, weights: dict | None, source: str):
    """Extrapolation error of each law on the held-out largest runs, and forecast weights when known."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("extrapolation_are") is not None]
    ncols = 2 if weights else 1
    fig, axes = new_figure(12 if weights else 8, 4.2, ncols=ncols)
    ax = axes[0] if weights else axes
    if ok:
        names = [r["law"] for r in ok]
        are = [100 * r["extrapolation_are"] for r in ok]
        y = np.arange(len(ok))
        ax.barh(y, are, color="C0")
        ax.set_yticks(y, names, fontsize=8)
        ax.invert_yaxis()
        for yi, a in zip(y, are):
            ax.text(a, yi, f" {a:.2f}%", va="center", fontsize=7)
    else:
        ax.text(0.5, 0.5, "no law could be scored on held-out runs", ha="center", transform=ax.transAxes)
    ax.set(xlabel="mean |error| on the held-out largest runs (%)", title="extrapolation score")
    if weights:
        ax2 = axes[1]
        names = list(weights)
        y = np.arange(len(names))
        ax2.barh(y, [weights[n] for n in names], color="C2")
        ax2.set_yticks(y, names, fontsize=8)
        ax2.invert_yaxis()
        ax2.set(xlabel="weight in the forecast", xlim=(0, 1), title="forecast weights")
    fig.suptitle(f"(e) law comparison ({source})", fontsize=11)
    fig.tight_layout()
    return fig


# --- (f) iso-loss contours ----------------------------------------------------------------------


def isoloss(ctx, frontier_out: dict):
    """Iso-loss contours of the fitted law in (N, D), the runs, isoFLOP lines and the frontier."""
    fig, ax = new_figure(8, 6)
    N, D = ctx.col("N"), ctx.col("D")
    n = np.geomspace(N.min() / 3, N.max() * 30, 80)
    d = np.geomspace(D.min() / 3, D.max() * 30, 80)
    NN, DD = np.meshgrid(n, d)
    x = {"N": NN.ravel(), "D": DD.ravel(), **{k: np.full(NN.size, v) for k, v in ctx.extra.items()}}
    Lg = ctx.predict(ctx.params, x).reshape(NN.shape)
    levels = np.quantile(Lg[np.isfinite(Lg)], np.linspace(0.02, 0.9, 12))
    cs = ax.contour(NN, DD, Lg, levels=np.unique(np.round(levels, 3)), cmap="viridis_r", linewidths=1)
    ax.clabel(cs, fontsize=7, fmt="%.3g")
    for c in np.geomspace(6 * N.min() * D.min(), 6 * N.max() * D.max() * 100, 6):
        ax.plot(n, c / (6 * n), color="0.75", lw=0.8, ls=":")
    ax.scatter(N, D, s=10, color="0.3", zorder=3, label="runs")
    ax.plot(frontier_out["N_opt"], frontier_out["D_opt"], color="crimson", lw=2, label="compute-optimal frontier")
    ax.set(xscale="log", yscale="log", xlim=(n[0], n[-1]), ylim=(d[0], d[-1]), xlabel="N (parameters)",
           ylabel="D (tokens)", title=f"(f) iso-loss contours of {ctx.law.name} (dotted: isoFLOP lines C = 6ND)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


# --- (g) inputs beyond N and D --------------------------------------------------------------------


def extra_input(ctx, name: str, ci: float = 0.9):
    """Loss against input ``name`` (experts E, sparsity S, ...) at fixed N (and D): law, band, runs nearby."""
    fig, ax = new_figure(8, 4.5)
    v = ctx.col(name)
    N, D, L = ctx.col("N"), ctx.col("D"), ctx.col("loss")
    lo_v, hi_v = float(v.min()), float(v.max())
    positive = lo_v > 0
    grid = np.geomspace(lo_v, hi_v * (2 if name != "S" else 1), 60) if positive and name != "S" else \
        np.linspace(lo_v, min(hi_v * 1.2 if hi_v > 0 else 0.9, 0.99) if name == "S" else hi_v, 60)
    key, pick = size_groups(N, 4)
    Dm = float(np.median(D))
    colors = _cmap(len(pick))
    xs = []
    for g in pick:
        n = float(np.median(N[key == g]))
        xs.append({**{k: np.full(grid.size, float(np.median(ctx.col(k)))) for k in ctx.law.inputs},
                   "N": np.full(grid.size, n), "D": np.full(grid.size, Dm), name: grid})
    x = {k: np.concatenate([xi[k] for xi in xs]) for k in xs[0]}
    point = ctx.predict(ctx.params, x).reshape(len(pick), -1)
    band = None if ctx.draws is None else _band(ctx.predict(ctx.draws, x), ci)
    for i, (g, color) in enumerate(zip(pick, colors)):
        rows = key == g
        n = float(np.median(N[rows]))
        ax.plot(grid, point[i], color=color, lw=1.6, label=f"N = {n:.3g}, D = {Dm:.3g}")
        if band is not None:
            sl = slice(i * grid.size, (i + 1) * grid.size)
            ax.fill_between(grid, band[0][sl], band[1][sl], color=color, alpha=0.2, lw=0)
        near = rows & np.isclose(D, Dm, rtol=0.5)
        ax.scatter(v[near], L[near], color=color, s=18, zorder=3)
    ax.set(xscale="log" if positive and name != "S" else "linear", xlabel=f"{name}", ylabel="loss (nats/token)",
           title=f"(g) {ctx.law.name}: loss against {name} at fixed N and D (runs at D within 50%)")
    if positive and name != "S":
        plain_log_axis(ax.xaxis)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


# --- Approach 2 -------------------------------------------------------------------------------


def isoflop_profiles(iso, methods=("akima", "parabola")):
    """Loss against N per budget: runs, the fitted curves (solid: first method, dashed: second), minima."""
    from scalelab.optimal.isoflop import curve as _curve

    fig, ax = new_figure(8, 5)
    K = len(iso.budgets)
    colors = _cmap(K)
    styles = ["-", "--", ":"]
    for k in range(K):
        if iso.sizes[k] < 2:
            continue
        x, y = iso.profile(k)
        color = colors[k] if iso.bracketed[k] else "0.6"
        ax.scatter(np.exp(x), np.exp(y), s=14, color=color, zorder=2)
        if not iso.bracketed[k] or x.size < 3:
            continue
        xq = np.linspace(x.min(), x.max(), 100)
        for m, ls in zip(methods, styles):
            ax.plot(np.exp(xq), np.exp(_curve(x, y, m, xq)), color=color, ls=ls, lw=1.2)
            u = iso.methods[m]["N_opt"][k]
            if np.isfinite(u):
                ax.scatter([u], [iso.methods[m]["loss_opt"][k]], marker="o" if ls == "-" else "x", s=40,
                           color="crimson" if ls == "-" else "k", zorder=4)
        ax.text(np.exp(x[-1]), np.exp(y[-1]), f" {iso.budgets[k]:.2g}", fontsize=6, color=color, va="center")
    ax.plot([], [], "k-", label=f"{methods[0]} (o: minimum)")
    if len(methods) > 1:
        ax.plot([], [], "k--", label=f"{methods[1]} (x: minimum)")
    ax.scatter([], [], color="0.6", s=14, label="minimum not bracketed")
    ax.set(xscale="log", yscale="log", xlabel="N (parameters)", ylabel="loss (nats/token)",
           title=f"Approach 2: isoFLOP profiles (labels: C in FLOPs); a = {iso.a:.3f} "
                 f"[{iso.a_interval[0]:.3f}, {iso.a_interval[1]:.3f}] ({iso.method})")
    plain_log_axis(ax.yaxis)
    ax.legend(fontsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


__all__ = ["new_figure", "save", "pixel_size", "loss_vs_compute", "frontier", "residuals", "influence",
           "law_comparison", "isoloss", "extra_input", "isoflop_profiles", "DPI"]
