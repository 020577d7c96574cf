"""The report page: one self-contained HTML file (inline CSS, figures as relative PNG links)."""

from __future__ import annotations

import html as _html

import numpy as np

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 24px auto; max-width: 1240px;
       color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.name { text-align: left; font-family: monospace; }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; max-width: 1000px; }
ul.warnings li { color: #8a4b00; margin: 2px 0; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; }
"""

CAPTIONS = {
    "a_loss_vs_compute.png": "(a) Loss against training compute, one colour per model size (log10 N rounded to 0.1). "
                             "Lines: the fitted law at each size's median N along D; bands: {ci} bootstrap interval "
                             "of the law's curve. Red circles: the held-out runs with the largest {by}, which the "
                             "extrapolation score in (e) predicts from the rest.",
    "b_frontier.png": "(b) The compute-optimal frontier under C = 6ND: model size, tokens and tokens per parameter "
                      "with {ci} bootstrap bands (Approach 3). Markers: Approach 2 minima of each isoFLOP budget "
                      "(Akima interpolation and parabola) when the table has isoFLOP structure.",
    "isoflop.png": "Approach 2: loss against N within each compute budget; solid: Akima interpolation (Porian et al. "
                   "2024), dashed: parabola (Hoffmann et al. 2022); grey: budgets whose minimum is not bracketed.",
    "c_residuals.png": "(c) Relative residuals of the fit, predicted / observed - 1, against tokens per parameter and "
                       "against model size. Structure here (a trend, a fan) is misfit that the bands do not carry.",
    "d_influence.png": "(d) Change of the headline forecast ({target}) if each run were removed (one Newton step "
                       "of the fit without it; `scalelab influence`). Labelled: the largest.",
    "e_law_comparison.png": "(e) Candidate laws fitted without the largest runs, scored by their mean absolute "
                            "error on them (`scalelab compare`), and the forecast's weights when available.",
    "f_isoloss.png": "(f) Iso-loss contours of the fitted law in (N, D); dotted: isoFLOP lines; red: the "
                     "compute-optimal frontier; dots: the runs.",
}


def _e(s) -> str:
    return _html.escape(str(s))


def _fmt(v, spec=".4g") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "&ndash;"
    return format(v, spec)


def _interval(row, key, spec=".3g") -> str:
    lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if lo is None:
        return ""
    return f"[{_fmt(lo, spec)}, {_fmt(hi, spec)}]"


def _params_table(s) -> str:
    ci = f"{100 * s['ci']:g}%"
    rows = "".join(
        f"<tr><td class='name'>{_e(p['name'])}</td><td>{_fmt(p['value'], '.5g')}</td>"
        f"<td>{'fixed' if p['fixed'] else '[' + _fmt(p['lo'], '.4g') + ', ' + _fmt(p['hi'], '.4g') + ']'}</td></tr>"
        for p in s["params"])
    return (f"<table id='params'><tr><th>parameter</th><th>fit</th><th>{ci} interval ({_e(s['band'])})</th></tr>"
            f"{rows}</table>")


def _alloc_table(s) -> str:
    if not s["allocation"]:
        return "<p>No compute-optimal allocation for this law.</p>"
    ci = f"{100 * s['ci']:g}%"
    head = ("<tr><th>C (FLOPs)</th><th>N_opt (params)</th><th>" + ci + " interval</th><th>D_opt (tokens)</th><th>"
            + ci + " interval</th><th>tokens/param</th><th>" + ci + " interval</th><th>loss</th><th>" + ci
            + " interval</th></tr>")
    rows = "".join(
        f"<tr><td>{r['C']:.3g}</td><td class='n_opt'>{r['N_opt']:.4g}</td><td>{_interval(r, 'N_opt')}</td>"
        f"<td class='d_opt'>{r['D_opt']:.4g}</td><td>{_interval(r, 'D_opt')}</td><td>{r['tokens_per_param']:.3g}</td>"
        f"<td>{_interval(r, 'tokens_per_param')}</td><td>{r['loss']:.4f}</td><td>{_interval(r, 'loss')}</td></tr>" for r in s["allocation"])
    held = ", ".join(f"{k} = {v:g}" for k, v in s["extra_held"].items())
    note = f"<p>Other inputs held at the table's most common value: {_e(held)}.</p>" if held else ""
    return f"<table id='allocation'>{head}{rows}</table>{note}"


def _iso_table(s) -> str:
    iso = s.get("isoflop")
    if not iso:
        return ""
    a = iso["a"]
    shown = [row for row in zip(iso["budgets"], iso["sizes"], iso["bracketed"], iso["N_opt"], iso["D_opt"]) if row[1] >= 3]
    rows = "".join(
        f"<tr><td>{c:.3g}</td><td>{n}</td><td>{'yes' if b else 'no'}</td><td>{_fmt(no)}</td><td>{_fmt(do)}</td></tr>"
        for c, n, b, no, do in shown)
    hidden = len(iso["budgets"]) - len(shown)
    more = f"<p>{hidden} budgets with fewer than 3 model sizes are not listed.</p>" if hidden else ""
    ci = f"{100 * iso['ci']:g}%"
    return (f"<p>Approach 2 ({_e(iso['method'])}): N_opt ~ C<sup>a</sup> with a = {_fmt(a, '.3f')} "
            f"[{_fmt(iso['a_interval'][0], '.3f')}, {_fmt(iso['a_interval'][1], '.3f')}], D_opt ~ C<sup>b</sup> with "
            f"b = {_fmt(iso['b'], '.3f')} ({ci} intervals, budgets resampled).</p>"
            f"<table id='isoflop'><tr><th>budget C</th><th>sizes</th><th>bracketed</th><th>N_opt</th><th>D_opt</th></tr>"
            f"{rows}</table>{more}")


def _comparison_table(s) -> str:
    rows = s.get("comparison")
    if not rows:
        return ""
    w = s.get("weights") or {}
    body = "".join(
        f"<tr><td class='name'>{_e(r['law'])}</td><td>{_e(r['status'])}</td>"
        f"<td>{_fmt(None if r.get('extrapolation_are') is None else 100 * r['extrapolation_are'], '.3f')}</td>"
        f"<td>{_fmt(r.get('bic'), '.1f')}</td><td>{_fmt(w.get(r['law']), '.3f') if w else '&ndash;'}</td>"
        f"<td style='text-align:left'>{_e(r.get('reason') or '')}</td></tr>" for r in rows)
    return ("<table id='comparison'><tr><th>law</th><th>status</th><th>held-out error (%)</th><th>BIC</th>"
            f"<th>forecast weight</th><th>note</th></tr>{body}</table>")


def _figure(name, size, s) -> str:
    cap = CAPTIONS.get(name, "")
    if name.startswith("g_loss_vs_"):
        k = name[len("g_loss_vs_"):-4]
        cap = (f"(g) Loss against {k} at fixed N and D (the table's median D), for a few model sizes: the law and "
               f"its band; dots: runs at D within 50% of it.")
    cap = cap.format(ci=f"{100 * s['ci']:g}%", by=_e(s.get("holdout_by", "N")),
                     target=_e(s["headline"]["target"]))
    w, h = size
    return (f"<figure><img src='{_e(name)}' width='{w}' height='{h}' alt='{_e(name)}'>"
            f"<figcaption>{cap}</figcaption></figure>")


def page(s: dict, title: str) -> str:
    """The HTML of the report from its summary ``s`` (the object written to report.json)."""
    figs = s["figures"]
    order = ["a_loss_vs_compute.png", "b_frontier.png", "isoflop.png", "c_residuals.png", "d_influence.png",
             "e_law_comparison.png", "f_isoloss.png"] + sorted(k for k in figs if k.startswith("g_"))
    fig_html = "".join(_figure(n, figs[n], s) for n in order if n in figs)
    warn = "".join(f"<li>{_e(w)}</li>" for w in s["warnings"]) or "<li>none</li>"
    skipped = "".join(f"<li>{_e(w)}</li>" for w in s["skipped"])
    notes = "".join(f"<li>{_e(n)}</li>" for n in s.get("notes", []))
    law_line = _e(s["law"]) + (f" (chosen by law=auto: {_e(s.get('chosen_by') or '')})" if s["requested_law"] == "auto"
                               else "")
    head = s["headline"]
    headline = (f"<p>Headline forecast: {_e(head['target'])} = {head['value']:.4g} nats/token.</p>"
                if head.get("value") is not None else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="meta">{s['n_runs']} runs from {_e(s['source'])}; law {law_line}; objective {s['objective']:.6g}
(converged: {'yes' if s['converged'] else 'no'}); bands and intervals: {100 * s['ci']:g}%, {_e(s['band'])};
written in {s['seconds']:.1f} s by scalelab.</p>
{headline}
<h2>Warnings</h2>
<ul class="warnings">{warn}</ul>
{('<h2>Notes on the data</h2><ul>' + notes + '</ul>') if notes else ''}
{('<h2>Not drawn</h2><ul>' + skipped + '</ul>') if skipped else ''}
<h2>Parameters</h2>
{_params_table(s)}
<h2>Compute-optimal allocation (C = 6ND; as <code>scalelab allocate</code>)</h2>
{_alloc_table(s)}
<h2>Figures</h2>
{fig_html}
<h2>Approach 2 (isoFLOP profiles)</h2>
{_iso_table(s) or '<p>The table has no isoFLOP structure (see "Not drawn").</p>'}
<h2>Law comparison</h2>
{_comparison_table(s)}
</body></html>
"""
