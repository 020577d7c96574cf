"""Programs kept on disk: a program scalelab builds for one of its own laws is traced once per
machine, not once per process.

With JAX's executable cache warm (`scalelab.cache`), a new process still traces and lowers every
program before JAX can look its executable up (the key is computed from the lowered module): about
half of a second `scalelab forecast`. `compile_program` therefore keeps each such program *traced*:
exported once with `jax.export` (StableHLO, serialized) to ``programs/`` in the cache directory. A
later process deserializes it instead of tracing, and its compilation is a hit in JAX's cache.

The compiled executable itself is not kept beside it (``jax.experimental.serialize_executable``):
tried, it loaded in 0.2 s less, but an XLA:CPU executable compiled in a process that had compiled
other programs before can leave out kernels it shares with them, and in a new process it then
failed at its first run ("Function bitcast_concatenate_fusion.4 not found"). Files of that kind
(``.xla``) left by that version are removed with the other stale programs.

The key covers the program's name and settings, the shapes and dtypes of its arguments, the 64-bit
mode, the device, the XLA options and ``XLA_FLAGS``, and a digest of scalelab's own source files:
an edited or upgraded package never reads a program traced from other code, and removes those
programs when it writes its own. Only single-device programs are kept; a corrupt entry warns once,
is removed and traced again. Nothing is kept when the cache is off or the user pointed JAX at a
cache of their own.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from scalelab import cache as _cache

PROGRAMS = "programs"  # subdirectory of the kept programs
_state = _cache._state  # counters live beside the cache's own state: programs_traced/loaded/unkept


def _source_digest() -> str:
    """sha256 of scalelab's own source files (paths and bytes): a traced program is valid for this code only."""
    if _state.get("digest") is None:
        pkg = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for p in sorted(pkg.rglob("*.py")):
            h.update(str(p.relative_to(pkg)).encode())
            h.update(p.read_bytes())
        _state["digest"] = h.hexdigest()
    return _state["digest"]


def _program_path(name: str, args, compiler_options: dict | None = None) -> Path | None:
    """Where the traced program ``name`` for ``args`` is kept, or ``None`` when it is not kept."""
    import jax

    if not _state["enabled"] or _state["dir"] is None or jax.device_count() != 1 or jax.process_count() != 1:
        return None  # scalelab's own cache only (not a directory the user gave JAX), one device
    leaves, tree = jax.tree.flatten(args)
    sig = [(tuple(getattr(a, "shape", ())), str(getattr(a, "dtype", type(a).__name__)),
            bool(getattr(a, "weak_type", False))) for a in leaves]
    d = jax.devices()[0]
    raw = repr((name, str(tree), sig, bool(jax.config.jax_enable_x64), d.platform, getattr(d, "device_kind", ""),
                sorted((compiler_options or {}).items()), os.environ.get("XLA_FLAGS", ""), _source_digest()))
    return _state["dir"] / PROGRAMS / f"{_source_digest()[:16]}-{hashlib.sha256(raw.encode()).hexdigest()[:32]}.jaxexport"


def _drop_stale(folder: Path) -> None:
    """Remove kept programs of other versions of scalelab's code (their file names start with another digest),
    and compiled executables (``.xla``) an earlier version kept."""
    mine = _source_digest()[:16] + "-"
    for p in [*folder.glob("*.jaxexport"), *folder.glob("*.xla")]:
        if p.suffix == ".xla" or not p.name.startswith(mine):
            try:
                p.unlink()
            except OSError:
                pass


def _write(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically (a concurrent reader sees the old file or the whole new one);
    an unwritable cache never fails a command."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale(path.parent)  # an edited or upgraded package's programs are never read again
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".probe-", delete=False) as fh:
            pickle.dump(obj, fh)
        os.replace(fh.name, path)
    except OSError:
        pass


def _read(path: Path, in_tree):
    """``(out_tree, rest)`` of a kept file written for arguments of structure ``in_tree``; None when
    absent; a corrupt or foreign file warns once, is removed, and reads as None."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as fh:
            kept_in, out_tree, *rest = pickle.load(fh)
        if kept_in != in_tree:
            raise ValueError("argument structure differs")
        return out_tree, rest
    except Exception as err:  # a truncated or foreign entry: build it again and rewrite it
        _cache._warn(f"scalelab: removed a corrupt traced program from the cache ({path.name}: "
                     f"{type(err).__name__}); it is traced again.")
        try:
            path.unlink()
        except OSError:
            pass
        return None


def compile_program(name: str | None, jitted, args: tuple, compiler_options: dict | None = None):
    """``jitted.lower(*args).compile()``, tracing it at most once per machine.

    Args:
      name: a stable name of the program and its settings (e.g. ``"fit_many|chinchilla|huber|4|64|200"``),
        or ``None`` for a program that is not kept (a user's law): it is traced as usual.
      jitted: the ``jax.jit`` function; args: its arguments (arrays and pytrees of arrays).
      compiler_options: XLA options the kept program is compiled with (those given to ``jax.jit``
        apply to ``jitted`` itself, not to its exported form).

    Returns:
      A callable ``(*args) -> outputs`` (the same pytree as ``jitted``'s), compiled for ``args``'s shapes.
    """
    import jax
    from jax import export

    path = None if name is None or " at 0x" in name else _program_path(name, args, compiler_options)
    if path is None:
        return jitted.lower(*args).compile()
    leaves, in_tree = jax.tree.flatten(args)
    got = _read(path, in_tree)
    if got is not None:
        out_tree, (blob,) = got
        exp = export.deserialize(bytearray(blob))
        _state["programs_loaded"] += 1
    else:
        box = {}
        # the function under the jit: a jit with its own compiler options cannot be nested in another
        inner = getattr(jitted, "__wrapped__", jitted)

        def flat(*a):  # flat leaves in and out: the exported form needs no pytree registration
            out, box["tree"] = jax.tree.flatten(inner(*jax.tree.unflatten(in_tree, a)))
            return tuple(out)

        try:
            exp = export.export(jax.jit(flat))(*leaves)
            blob = bytes(exp.serialize())
        except Exception:  # a program jax.export cannot serialize (or no flatbuffers): compiled as usual
            _state["programs_unkept"] += 1
            return jitted.lower(*args).compile()
        _state["programs_traced"] += 1
        out_tree = box["tree"]
        _write(path, (in_tree, out_tree, blob))
    compiled = jax.jit(exp.call, compiler_options=compiler_options).lower(*leaves).compile()
    return lambda *a: jax.tree.unflatten(out_tree, list(compiled(*jax.tree.leaves(a))))


__all__ = ["compile_program", "PROGRAMS"]
