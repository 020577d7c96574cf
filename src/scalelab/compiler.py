"""XLA:CPU compiler settings for a process scalelab starts: compile in half the time.

Most of a single `scalelab` command on a CPU is XLA compilation, and most of that is XLA:CPU's
fusion emitters generating code for the fitters' loops (L-BFGS with its line search, NUTS).
XLA's older elemental emitters compile the same programs in about half the time, to the same
results, and run them somewhat slower (`benchmarks/cli_latency.py --xla-default`, 2-core x86_64,
jaxlib 0.10.2: cold ``fit --json`` 5.4 s -> 4.1 s, cold ``forecast`` on 30 runs 51 s -> 23 s, with the
cache off ``fit --bootstrap 4000`` 15.4 s -> 7.7 s; a warm Epoch fit runs 0.1 s slower, 0.69 -> 0.83 s
from the 4,500-start grid; the test suite 706 s -> 341 s). A command is compiled once and run once,
so the command takes the trade; a long CPU job that reruns one program many times may not
(``SCALELAB_FAST_COMPILE=0``).

`fast_compile_flags` is a pure function from the ``XLA_FLAGS`` a process was started with to the
value it should run with. The CLI's console entry (`scalelab.cli.run`) applies it to its own
process before JAX starts a backend; importing scalelab changes nothing. A Python user gets the
same by starting with ``XLA_FLAGS=--xla_cpu_use_fusion_emitters=false``.

XLA aborts the process on a flag it does not know, so the flag is added only for the jaxlib
versions it was verified on (`VERIFIED`), never when ``XLA_FLAGS`` already names it (a user's
``--xla_cpu_use_fusion_emitters=true`` wins), and not when ``SCALELAB_FAST_COMPILE=0``. It is an
XLA:CPU option: GPU and TPU programs are compiled as before.
"""

from __future__ import annotations

FLAG = "--xla_cpu_use_fusion_emitters=false"
VERIFIED = ((0, 10),)  # jaxlib (major, minor) releases whose XLA knows FLAG (checked: 0.10.2)


def _jaxlib_version() -> tuple | None:
    """``(major, minor)`` of the installed jaxlib, read from its metadata (jax is not imported), or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = version("jaxlib").split(".")[:2]
        return int(major), int(minor)
    except (PackageNotFoundError, ValueError):
        return None


def fast_compile_flags(xla_flags: str | None, jaxlib: tuple | None = None, enabled: str | None = None) -> str | None:
    """The ``XLA_FLAGS`` a scalelab process should run with, or None to leave them as they are.

    Args:
      xla_flags: the current ``XLA_FLAGS`` (None or "" when unset).
      jaxlib: ``(major, minor)`` of jaxlib; None reads the installed one.
      enabled: the value of ``SCALELAB_FAST_COMPILE`` ("0", "false", "off" or "no" turn it off).

    Returns:
      ``xla_flags`` with `FLAG` appended, or None when the flag is not to be added (turned off, a jaxlib
      it was not verified on, or ``xla_flags`` already sets ``xla_cpu_use_fusion_emitters``).
    """
    if (enabled or "").strip().lower() in ("0", "false", "off", "no"):
        return None
    jaxlib = _jaxlib_version() if jaxlib is None else jaxlib
    if jaxlib is None or tuple(jaxlib[:2]) not in VERIFIED:
        return None
    current = xla_flags or ""
    if "xla_cpu_use_fusion_emitters" in current:
        return None
    return f"{current} {FLAG}".strip()


def apply(environ) -> bool:
    """Set ``environ["XLA_FLAGS"]`` as `fast_compile_flags` says (call before JAX starts a backend);
    True when it changed."""
    new = fast_compile_flags(environ.get("XLA_FLAGS"), enabled=environ.get("SCALELAB_FAST_COMPILE"))
    if new is None:
        return False
    environ["XLA_FLAGS"] = new
    return True


__all__ = ["FLAG", "VERIFIED", "fast_compile_flags", "apply"]
