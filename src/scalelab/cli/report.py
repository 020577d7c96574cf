"""`scalelab report` and `scalelab isoflop`, and the ``--plot FILE`` option of other commands.

Each command is a thin layer over `scalelab.report.report` and `scalelab.optimal.isoflop.isoflop`;
``--json`` prints one object on stdout, notes and warnings go to stderr. Errors raise
`ValueError` (or `RunTableError`), which the CLI prints as ``error: ...`` with exit status 2.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path


from scalelab.cli.options import add_table, count, dumps, err as _err, fixed_from, fraction, starts_value


# Written into every ``--plot`` figure's metadata (PNG ``Software``, SVG/PDF ``Creator``): an existing file is
# overwritten only when it carries it, as the other outputs overwrite only their own earlier results
FIGURE_MARK = "scalelab figure"


def own_figure(p: Path) -> bool:
    """Whether the file at ``p`` is a figure an earlier ``--plot`` wrote (it carries `FIGURE_MARK`)."""
    try:
        return p.stat().st_size < 64 * 2 ** 20 and FIGURE_MARK.encode() in p.read_bytes()
    except OSError:
        return False


def check_writable_file(path) -> Path:
    """``path``'s directory exists and is writable and its suffix names a format we write (.png, .svg, .pdf; none:
    PNG), and it is new or a figure an earlier ``--plot`` wrote (a user's photo or document of that name is refused
    and left untouched), else a ValueError naming it (checked before any work)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ValueError(f"--plot {str(p)!r} is a directory; give a file name such as fit.png")
    if p.exists() and not own_figure(p):
        raise ValueError(f"--plot {str(p)!r} exists and is not a figure scalelab wrote; it is left untouched: choose "
                         f"another file, or remove it first")
    if not parent.is_dir():
        raise ValueError(f"cannot write {str(p)!r}: directory {str(parent)!r} does not exist")
    if p.suffix.lower() not in ("", ".png", ".svg", ".pdf"):
        raise ValueError(f"--plot {str(p)!r}: give a .png, .svg or .pdf file")
    import os

    if not os.access(parent, os.W_OK):
        raise ValueError(f"cannot write {str(p)!r}: directory {str(parent)!r} is not writable")
    return p


def save_plot(fig, path) -> Path:
    """Write a figure for ``--plot FILE`` (PNG, or SVG/PDF by suffix) and say so on stderr."""
    p = check_writable_file(path)
    fmt = p.suffix.lower().lstrip(".") or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"--plot {str(p)!r}: give a .png, .svg or .pdf file")
    fig.savefig(p, format=fmt, dpi=100, metadata={("Software" if fmt == "png" else "Creator"): FIGURE_MARK})
    _err(f"wrote {p}")
    return p


def plot_fit(table, law, params, path, draws=None, ci: float = 0.9, draws_label: str = "bootstrap refits",
             targets=None) -> Path:
    """``--plot FILE`` of `fit`, `bayes` and `forecast`: loss against compute with the fitted law.

    Args:
      table: the runs (`RunTable`, DataFrame or path).
      law: name or `Law`.
      params: natural parameters (point values).
      draws: optional ``{param: [B]}`` (bootstrap refits or posterior draws) for a ``ci`` band.
      targets: optional ``{"C", "loss", "lo", "hi"}`` arrays (FLOPs, nats/token): forecasts drawn with their
        ``ci`` intervals (`forecast`'s figure).
    """
    import numpy as np

    from scalelab import laws, runs
    from scalelab.report import Context, figures

    table = runs.read(table)
    law = laws.get(law)
    if draws is not None and not isinstance(draws, dict):  # a fit_many DataFrame of refits
        draws = {k: np.asarray(draws[k], float) for k in law.params}
    # every run was fitted (fit, bayes, forecast): none is drawn as held out (the report's compare step holds some out,
    # and says so in its caption; a new-user trial read `fit --plot`'s "held out (largest N)" as a split never made)
    ctx = Context(table, law, {k: float(v) for k, v in params.items()}, draws,
                  draws_label if draws is not None else "point fit", None, "N", {})
    fig = figures.loss_vs_compute(ctx, ci, label="")
    if targets is not None:
        ax = fig.axes[0]
        C, loss = np.asarray(targets["C"], float), np.asarray(targets["loss"], float)
        err_bars = [loss - np.asarray(targets["lo"], float), np.asarray(targets["hi"], float) - loss]
        ax.errorbar(C, loss, yerr=err_bars, fmt="D", color="black", ms=5, capsize=3, zorder=5,
                    label=f"forecasts, {100 * ci:g}% intervals")
        ax.set_title(f"forecast: the runs, the top-weighted law ({law.name}) and the forecasts")
        ax.legend(fontsize=7, ncol=2, loc="upper right")
        fig.tight_layout()
    return save_plot(fig, path)


def plot_posterior(table, post, path, ci: float = 0.9) -> Path:
    """``--plot FILE`` of `bayes`: the fit figure with the posterior's band."""
    import numpy as np

    from scalelab import laws

    law = laws.get(post.law)
    nat = post.draws()
    draws = {k: np.asarray(nat[k], float).ravel() for k in law.params}
    med = {k: float(np.median(v)) for k, v in draws.items()}
    return plot_fit(table, law, med, path, draws=draws, ci=ci, draws_label=f"{post.method} posterior")


def _with_posterior_plot(func):
    """Wrap `scalelab bayes`: with ``--plot FILE``, save the posterior (to a temporary file unless
    ``--save`` is given), then draw it over the runs."""

    def run(args) -> int:
        if not getattr(args, "plot", None):
            return func(args)
        check_writable_file(args.plot)
        import tempfile

        from scalelab import bayes
        from scalelab.cli.options import read_table

        with tempfile.TemporaryDirectory() as tmp:
            own = not getattr(args, "save", None)
            if own:
                args.save = str(Path(tmp) / "posterior.nc")
                args.save_is_temporary = True  # the plot's own copy: not announced as saved
            rc = func(args)
            if rc == 0:
                with warnings.catch_warnings():  # the posterior's checks and the table's notes were said once
                    warnings.simplefilter("ignore")
                    post = bayes.load(args.save)
                    table = read_table(args, quiet=True)
                plot_posterior(table, post, args.plot, ci=getattr(args, "ci", 0.9) or 0.9)
            if own:
                args.save, args.save_is_temporary = None, False
        return rc

    return run


def cmd_isoflop(args) -> int:
    from scalelab.cli.options import read_table
    from scalelab.optimal.isoflop import isoflop
    from scalelab.optimal.isoflop_checks import MIN_RESAMPLES, isoflop_notes

    if args.plot:
        check_writable_file(args.plot)
    table = read_table(args, quiet=True)
    for note in isoflop_notes(table.notes):  # as they hold for isoflop: a repeated row is averaged, not fitted twice
        _err(f"note: {note}")
    res = isoflop(table, method=args.method, tolerance=args.tolerance, ci=args.ci, n_boot=args.bootstrap,
                  seed=args.seed, approach3=None if args.law in ("none", "") else args.law,
                  n_boot_law=args.law_bootstrap)
    for w in res.warnings:
        _err(f"warning: {w}")
    if args.plot:
        from scalelab.report import figures

        save_plot(figures.isoflop_profiles(res), args.plot)
    out = res.to_json()
    if args.json:
        print(dumps(out))
        return 0
    ci = f"{100 * res.ci:g}%"
    source = "C = 6ND from N and D" if "C" in table.derived else "C column"
    print(f"{len(res.budgets)} budgets ({source}, tolerance {res.tolerance:g})")
    print(f"{'budget C':>10} {'sizes':>5} {'brkt':>4} " + " ".join(f"{'N_opt ' + m:>16}" for m in res.methods)
          + f" {'D_opt ' + res.method:>16}")
    for k, c in enumerate(res.budgets):
        print(f"{c:>10.3g} {res.sizes[k]:>5} {'yes' if res.bracketed[k] else 'no':>4} "
              + " ".join(f"{res.methods[m]['N_opt'][k]:>16.4g}" for m in res.methods) + f" {res.D_opt[k]:>16.4g}")
    for m, v in res.methods.items():
        mark = " (headline)" if m == res.method else ""
        print(f"{m:<9} a = {v['a']:.3f} [{v['a_interval'][0]:.3f}, {v['a_interval'][1]:.3f}]  "
              f"b = {v['b']:.3f} [{v['b_interval'][0]:.3f}, {v['b_interval'][1]:.3f}]  ({ci}, "
              f"{v['n_budgets']} budgets){mark}")
    a3 = res.approach3
    if a3:
        print(f"approach3 {a3['law']}: a = {a3['a']:.3f} [{a3['a_interval'][0]:.3f}, {a3['a_interval'][1]:.3f}]  "
              f"b = {a3['b']:.3f} [{a3['b_interval'][0]:.3f}, {a3['b_interval'][1]:.3f}]  "
              + (f"(not compared with Approach 2: no intervals; --bootstrap and --law-bootstrap of {MIN_RESAMPLES} or "
                 f"more give them)"
                 if a3["agree"] is None else f"({'agrees' if a3['agree'] else 'DISAGREES'} with Approach 2)"))
    return 0


def cmd_report(args) -> int:
    from scalelab.cli.options import law_rows, read_table
    from scalelab.report import report
    from scalelab.report.files import check_report_dir

    if not str(args.out).strip():
        raise ValueError("--out '': give the directory to write the report to (created if missing)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"cannot write the report to {str(out)!r}: it is a file, not a directory; choose --out DIR")
    check_report_dir(out)
    table = read_table(args)
    laws = args.compare if args.compare in ("auto", "none") else [s.strip() for s in args.compare.split(",") if s.strip()]
    fixed = fixed_from(args.fix)
    _err(f"writing the report on {law_rows(table, args.law)[1]} to {out}/ ...")
    path = report(table, args.law, out, ci=args.ci, n_boot=args.bootstrap, compare_laws=None if laws == "none" else laws,
                  seed=args.seed, fixed=fixed or None, influence=not args.no_influence,
                  starts=args.starts, holdout_by=args.holdout_by)
    summary = json.loads((path.parent / "report.json").read_text())
    for w in summary["warnings"]:
        _err(f"warning: {w}")
    if args.json:
        print(dumps({"index": str(path), **summary}))
    else:
        print(path)
    return 0


def add_plot_option(parser) -> None:
    """``--plot FILE`` on a command whose function calls `plot_fit`/`plot_posterior`."""
    parser.add_argument("--plot", metavar="FILE", default=None,
                        help="also write the command's main figure (.png, .svg or .pdf)")


def add_commands(sub) -> None:
    bayes = sub.choices.get("bayes")
    if bayes is not None and "--plot" not in bayes._option_string_actions:  # noqa: SLF001
        add_plot_option(bayes)
        bayes.set_defaults(func=_with_posterior_plot(bayes.get_default("func")))
    p = sub.add_parser("isoflop", help="Approach 2: compute-optimal N and D from isoFLOP profiles, vs the law's frontier")
    add_table(p)
    p.add_argument("--method", default="akima", choices=["akima", "cubic", "parabola"],
                   help="headline method (all three are reported); default akima (Porian et al. 2024)")
    p.add_argument("--tolerance", type=float, default=0.1,
                   help="runs within a factor 1+TOL in C share a budget (default 0.1)")
    p.add_argument("--ci", type=fraction, default=0.9, help="interval level (default 0.9)")
    p.add_argument("--bootstrap", type=count(0), default=1000,
                   help="budget resamples for the intervals of a and b (default 1000; 0: none, nor under 20)")
    p.add_argument("--law", default="chinchilla", help="Approach 3 law to compare with ('none' to skip)")
    p.add_argument("--law-bootstrap", type=count(0), default=100,
                   help="bootstrap refits of the Approach 3 law (default 100; 0: none, nor under 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_plot_option(p)
    p.set_defaults(func=cmd_isoflop)

    p = sub.add_parser("report", help="write an HTML report with figures (loss curves, frontier, residuals, ...)")
    add_table(p)
    p.add_argument("--law", default="chinchilla", help="law name, or 'auto' (chosen by extrapolation)")
    p.add_argument("--out", required=True, help="output directory (index.html and PNG figures)")
    p.add_argument("--ci", type=fraction, default=0.9, help="interval level of the bands (default 0.9)")
    p.add_argument("--bootstrap", type=count(0), default=200, help="bootstrap refits for the bands (0: none)")
    p.add_argument("--compare", default="auto",
                   help="laws for the comparison panel: 'auto' (every law the table supports), a comma list, or 'none'")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE", help="hold a parameter fixed (repeatable)")
    p.add_argument("--no-influence", action="store_true", help="skip the influence figure (d)")
    p.add_argument("--holdout-by", default=None,
                   help="column whose largest value is held out in the comparison and figure (a) (default N, else C)")
    p.add_argument("--starts", type=starts_value, default="auto",
                   help="'auto' (as `scalelab fit`: variable projection for laws with linear parameters, else the "
                        "law's grid), 'grid', or a number of random starts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report's summary as one JSON object")
    p.set_defaults(func=cmd_report)


__all__ = ["add_commands", "add_plot_option", "plot_fit", "plot_posterior", "save_plot", "check_writable_file"]
