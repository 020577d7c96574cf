"""Command-line interface: a thin layer over the Python API, one module per command group.

``--json`` prints exactly one JSON object on stdout; progress and warnings go to stderr.
Every usage or data error prints one ``error: ...`` line naming the flag, file, column or rows,
and exits 2 (argparse's own usage errors exit 2 too). A failure no check foresaw (a bug, not the
user's input) prints one ``error:`` line naming its type and exits 1 (``SCALELAB_TRACEBACK=1``
re-raises it with the traceback).
`main` parses the arguments before anything numerical is imported: ``--help`` and usage
errors answer at once, and each command imports only what it uses. Nothing else in
scalelab imports this package.
"""

from __future__ import annotations

import argparse
import sys

from scalelab.cli import bayes, cache, compare, curves, demo, design, fit, forecast, predict, proxy, report
from scalelab.cli.options import err

GROUPS = (fit, predict, forecast, bayes, report, curves, design, compare, proxy, demo, cache)  # report after bayes: it adds bayes --plot


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scalelab")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scalelab", description="Differentiable scaling laws in JAX.")
    parser.add_argument("--version", action="version", version=f"scalelab {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    for command in sub.choices.values():  # every command: warnings can be made fatal
        command.add_argument("--strict", action="store_true",
                             help="exit 2 if any warning was printed (a posterior that failed its checks, "
                                  "an identifiability warning, a non-converged fit, ...)")
    return parser


def main(argv=None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    from scalelab import cache as _cache
    from scalelab.cli.options import WARNED

    with warnings.catch_warnings(record=True) as caught:  # one line on stderr, not Python's warning and source line
        warnings.simplefilter("always", RuntimeWarning)
        if args.func.__module__ != "scalelab.cli.cache":  # `cache info` looks at the cache and creates nothing
            _cache.enable()  # compile once per machine (SCALELAB_CACHE_DIR moves it, =off turns it off)
    for w in caught:
        err(str(w.message))  # about the machine, not the results: --strict does not count it
    from scalelab.runs import RunTableError

    WARNED.clear()
    try:
        rc = int(args.func(args) or 0)
        if rc == 0 and getattr(args, "strict", False) and WARNED:
            err(f"error: --strict: {len(WARNED)} warning(s) above")
            return 2
        return rc
    except BrokenPipeError:  # the reader stopped early (`scalelab laws | head -3`): quiet, as Unix tools are
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE, the status a shell gives such a tool
    except (RunTableError, ValueError, KeyError, OSError, NotImplementedError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        err(f"error: {msg}")
        return 2
    except Exception as e:  # a failure no check foresaw: one line naming it, not a traceback
        import os

        if os.environ.get("SCALELAB_TRACEBACK", "") not in ("", "0"):
            raise
        err(f"error: the command failed unexpectedly ({type(e).__name__}: {e}); please report it with the command "
            f"line (SCALELAB_TRACEBACK=1 shows where it failed)")
        return 1


def run() -> int:
    """The ``scalelab`` console command (and ``python -m scalelab.cli``): `main` in a process whose XLA:CPU
    compiles in half the time (`scalelab.compiler`; set before JAX starts a backend, this process only)."""
    import os

    from scalelab import compiler

    compiler.apply(os.environ)
    return main()


__all__ = ["main", "run", "build_parser"]
