"""Atomic file replacement that respects the user's umask and leaves no orphan temp file.

`replace_atomic` writes to ``.<name>.<pid>.<random>.tmp`` beside the target, fsyncs it and
moves it over the target with ``os.replace``: a reader (or a killed writer) sees the old file
or the new one, never a torn one. The temp file is created with mode ``0o666`` less the umask
(what ``open(path, "w")`` would give); an existing target keeps its own mode. A kill between
creating and moving the temp file leaves it behind; `remove_stale` deletes such files whose
writing process no longer runs (the next write to the same target calls it).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import Callable

__all__ = ["replace_atomic", "remove_stale", "temp_files"]


def temp_files(path: str | os.PathLike) -> list[Path]:
    """The temp files `replace_atomic` makes for ``path`` (live or stale)."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]+\.tmp$")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.match(p.name))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale(path: str | os.PathLike) -> list[Path]:
    """Delete temp files of ``path`` left by writers that no longer run; returns what was removed."""
    removed = []
    for p in temp_files(path):
        pid = int(p.name.rsplit(".", 3)[-3])
        if not _alive(pid):
            try:
                p.unlink()
                removed.append(p)
            except FileNotFoundError:
                pass
    return removed


def replace_atomic(path: str | os.PathLike, write: Callable) -> None:
    """Call ``write(binary file handle)`` on a temp file, then move it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 & ~umask, as open() does
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    try:  # the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
