"""Where a report may be written: the checks `scalelab.report` and the CLI (``report``, ``demo``) share.

A report replaces only its own earlier files; a directory holding someone else's ``index.html`` or figures is
refused before any work and left untouched, from Python as from the command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# The files a report writes into its directory (``index.html``, the figures, ``report.json``; and
# ``g_loss_vs_<input>.png`` per input beyond N and D)
REPORT_FILES = ("index.html", "report.json", "a_loss_vs_compute.png", "b_frontier.png", "c_residuals.png",
                "d_influence.png", "e_law_comparison.png", "f_isoloss.png", "isoflop.png")


def check_report_dir(out: Path, flag: str = "--out") -> None:
    """A report replaces the files of an earlier report only: a directory whose ``index.html`` (or a figure
    name) is someone else's file, with no scalelab ``report.json`` beside it, is refused (ValueError naming
    ``flag``, the option or argument that gave ``out``) and left untouched."""
    out = Path(out)
    if not out.is_dir():
        return
    clash = [f for f in REPORT_FILES if (out / f).exists()] + sorted(p.name for p in out.glob("g_loss_vs_*.png"))
    if not clash:
        return
    try:
        ours = {"headline", "figures", "params"} <= set(json.loads((out / "report.json").read_text()))
    except (OSError, ValueError, TypeError):
        ours = False
    if not ours:
        raise ValueError(f"{flag} {str(out)!r} already holds {', '.join(clash)}, not from a scalelab report; they "
                         f"are left untouched: " + ("run the demo in another directory" if "demo" in flag else
                                                    "choose a new or empty directory"))


def check_writable(out: Path, flag: str = "--out") -> None:
    """``out`` can be made a directory and written: it is one, or its nearest existing ancestor is a writable
    directory (checked before any work, without creating anything), else a ValueError naming it."""
    out = Path(out)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    why = ("it is not a directory" if not probe.is_dir() else
           "permission denied" if not os.access(probe, os.W_OK | os.X_OK) else None)
    if why:
        raise ValueError(f"cannot write the report to {str(out)!r}: {str(probe)!r}: {why}; "
                         f"choose a writable directory with {flag}")


__all__ = ["REPORT_FILES", "check_report_dir", "check_writable"]
