"""Filesystem moves that must never overwrite: renameat2(RENAME_NOREPLACE) through libc."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_libc = None


def _renameat2() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    function = _libc.renameat2
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def rename_noreplace(source: Path, target: Path) -> None:
    """Atomically rename source to target; fails with FileExistsError when target exists (even an
    empty directory, which plain rename(2) would silently replace)."""
    result = _renameat2()(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(target) if code == errno.EEXIST else str(source))


def make_parents(target: Path, stop: Path, uid: int, gid: int) -> list[Path]:
    """Create target's missing parent directories up to stop, owned by uid:gid; returns them
    (outermost first) so a failed move can remove exactly what it created."""
    missing: list[Path] = []
    parent = target.parent
    while parent != stop and not os.path.lexists(parent):
        missing.append(parent)
        parent = parent.parent
    created = []
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)
        os.chown(directory, uid, gid, follow_symlinks=False)
        created.append(directory)
    return created


def remove_empty_parents(start: Path, stop: Path) -> list[Path]:
    """rmdir start and its parents up to (not including) stop while they are empty."""
    removed = []
    directory = start
    while directory != stop and stop in directory.parents:
        try:
            os.rmdir(directory)
        except OSError:
            break
        removed.append(directory)
        directory = directory.parent
    return removed
