"""Persistent compilation cache: compile a program once per machine, not once per process.

Most of a single-shot ``scalelab fit`` is XLA compilation. JAX can keep compiled
executables on disk; `enable` points it at a per-user directory so that the second
process that runs the same program loads it instead of compiling it.

Where (first that applies):

* ``SCALELAB_CACHE_DIR=off`` (or ``0``, ``none``, ``false``, ``no``): no persistent cache;
* ``SCALELAB_CACHE_DIR=PATH``: entries under ``PATH`` (an empty value is as if it were unset, as for
  ``SCALELAB_DATA_DIR``);
* ``$XDG_CACHE_HOME/scalelab``, else ``~/.cache/scalelab``.

Entries live in one subdirectory per jax version, jaxlib version, platform and
device kind (e.g. ``jax0.10.2-jaxlib0.10.2-cpu-cpu``), so a jax upgrade or another
accelerator never reads an executable built for something else (JAX's own keys
include these too; the subdirectory makes `info` and `clear` per setup, and an
upgrade leaves the old entries where `clear` finds them).

Nothing happens at import: `enable` is called by the CLI's ``main`` and by the
fitting entry points, and is idempotent. A user who set
``jax_compilation_cache_dir`` themselves (``JAX_COMPILATION_CACHE_DIR`` or
``jax.config.update``) keeps theirs. An unwritable directory warns once and the
command compiles as before; a corrupt entry is reported by JAX as a warning naming
the entry, recompiled, and rewritten.

Programs scalelab builds for its own laws are also kept traced in the same directory
(`scalelab.kept`), so that a second process does not trace them again.

The cache is trusted code (JAX's warning): keep it in a directory only you can write.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

ENV = "SCALELAB_CACHE_DIR"
OFF = ("off", "0", "none", "false", "no")
# Programs that compile faster than this are not written: reading a small entry back costs
# about as much as compiling it, and eager one-op programs would flood the directory.
MIN_COMPILE_SECONDS = 0.2

_state: dict = {"enabled": None, "dir": None, "warned": False, "digest": None,
                "programs_traced": 0, "programs_loaded": 0, "programs_unkept": 0}


def root() -> Path | None:
    """The cache root (all jax versions and devices), or ``None`` when turned off by ``SCALELAB_CACHE_DIR``."""
    env = os.environ.get(ENV)
    if env is not None and env.strip():  # set and not empty (an empty value is the default, as if unset)
        if env.strip().lower() in OFF:
            return None
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "scalelab"


def key() -> str:
    """The subdirectory name for this jax/jaxlib version, platform and device kind."""
    import jax
    import jaxlib

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", d.platform) or d.platform
    raw = f"jax{jax.__version__}-jaxlib{jaxlib.__version__}-{d.platform}-{kind}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


def directory() -> Path | None:
    """This setup's entry directory, or ``None`` when the cache is off."""
    r = root()
    return None if r is None else r / key()


def _warn(msg: str) -> None:
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _writable(path: Path) -> str | None:
    """``None`` if ``path`` can hold entries, else why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-", delete=True) as fh:
            fh.write(b"x")
            fh.flush()
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    return None


_ZLIB_FIRST = 0x78
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_STAMP = ".verified"


def _decompresses(data: bytes) -> bool:
    if data[:4] == _ZSTD_MAGIC:
        try:
            from compression import zstd  # Python >= 3.14
        except ImportError:
            try:
                import zstandard
            except ImportError:
                return True  # cannot check without the library JAX used; let JAX decide
            try:
                zstandard.ZstdDecompressor().decompressobj().decompress(data)
                return True
            except zstandard.ZstdError:
                return False
        try:
            zstd.decompress(data)
            return True
        except zstd.ZstdError:
            return False
    if data[:1] == bytes([_ZLIB_FIRST]):
        import zlib

        try:
            zlib.decompress(data)
            return True
        except zlib.error:
            return False
    return False


def _prune_corrupt(path: Path) -> int:
    """Remove entries that cannot be JAX's (compressed executables); returns how many.

    JAX itself survives a corrupt entry (it warns and compiles) but never rewrites it, so
    every later process would warn again. Entries written since the last check are
    decompressed in full (the checksum catches truncation); older ones, already checked,
    only have their header looked at, so a warm start reads no more than a few bytes each.
    """
    stamp = path / _STAMP
    since = stamp.stat().st_mtime if stamp.exists() else -1.0
    bad = 0
    for p in path.iterdir():
        if not p.name.endswith("-cache") or not p.is_file():
            continue
        try:
            if p.stat().st_mtime >= since:
                ok = _decompresses(p.read_bytes())
            else:
                with p.open("rb") as fh:
                    head = fh.read(4)
                ok = head[:4] == _ZSTD_MAGIC or head[:1] == bytes([_ZLIB_FIRST])
            if not ok:
                p.unlink()
                bad += 1
        except OSError:
            continue
    try:
        stamp.touch()
    except OSError:
        pass
    return bad


def enable() -> Path | None:
    """Turn on JAX's persistent compilation cache in this process (idempotent).

    Returns the directory in use, or ``None`` when the cache is off (by
    ``SCALELAB_CACHE_DIR=off``, an unwritable directory, or a user-set JAX cache
    directory, which is then left alone and returned).
    """
    if _state["enabled"] is not None:
        return _state["dir"]
    import jax

    _state["enabled"] = False
    own = jax.config.jax_compilation_cache_dir
    if own:  # the user chose a cache; keep it
        _state["dir"] = Path(own)
        return _state["dir"]
    path = directory()
    if path is None:
        return None
    why = _writable(path)
    if why is not None:
        _warn(f"scalelab: compilation cache {path} is not usable ({why}); compiling without it. "
              f"Set {ENV} to a writable directory, or {ENV}=off.")
        return None
    bad = _prune_corrupt(path)
    if bad:
        _warn(f"scalelab: removed {bad} corrupt compilation cache entr{'y' if bad == 1 else 'ies'} from {path}; "
              f"they will be compiled again.")
    jax.config.update("jax_compilation_cache_dir", str(path))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    _state.update(enabled=True, dir=path)
    return path


# The names `key` gives setup subdirectories: only these are scalelab's, whatever else shares the root (a root set to
# ``~/.cache`` by mistake also holds pip's and other programs' caches, which `info` and `clear` must leave alone).
_SETUP = re.compile(r"^jax[0-9][A-Za-z0-9._]*-jaxlib[0-9][A-Za-z0-9._]*-[A-Za-z0-9._-]+$")


def _setups(r: Path) -> list[Path]:
    """The setup subdirectories of root ``r`` (named as `key` names them)."""
    return sorted(p for p in r.iterdir() if p.is_dir() and _SETUP.match(p.name)) if r.is_dir() else []


def _entries(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return [p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".probe-", _STAMP))]


def info() -> dict:
    """What the cache holds: directory, whether it is on, entries and bytes (this setup and all setups). A root that
    cannot be a directory (a file on its path) gives ``usable`` False and the ``problem``."""
    r = root()
    out = {"root": None if r is None else str(r), "enabled": r is not None, "env": os.environ.get(ENV)}
    if r is None:
        return out
    blocked = next((p for p in (r, *r.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:  # every command compiles without the cache (`enable` warns); say why here too
        return {**out, "usable": False, "problem": f"{blocked} is a file, not a directory: set {ENV} to a writable "
                                                   f"directory, or {ENV}=off"}
    d = directory()
    mine = _entries(d)
    allf = [p for sub in _setups(r) for p in _entries(sub)]
    out.update({
        "usable": True,
        "directory": str(d),
        "entries": len(mine),
        "programs": sum(p.suffix == ".jaxexport" for p in mine),  # traced programs (`scalelab.kept`)
        "bytes": int(sum(p.stat().st_size for p in mine)),
        "setups": [p.name for p in _setups(r)],
        "entries_all_setups": len(allf),
        "bytes_all_setups": int(sum(p.stat().st_size for p in allf)),
    })
    return out


def clear(all_setups: bool = True) -> dict:
    """Delete cached entries (every setup under the root, or only this one); returns what was removed. Only the
    setup subdirectories scalelab writes (named by `key`) are removed: anything else under the root stays."""
    r = root()
    if r is None:
        return {"root": None, "removed_entries": 0, "removed_bytes": 0}
    targets = _setups(r) if all_setups else [d for d in [directory()] if d.is_dir()]
    files = [p for t in targets for p in _entries(t)]
    n, size = len(files), int(sum(p.stat().st_size for p in files))
    for t in targets:
        shutil.rmtree(t)
    return {"root": str(r), "removed_entries": n, "removed_bytes": size}


__all__ = ["enable", "info", "clear", "root", "directory", "key"]
