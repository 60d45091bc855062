"""Filesystem writes and moves that must be all-or-nothing: atomic replace, rename without overwrite."""

from __future__ import annotations

import os
from pathlib import Path

from herodev_shell.system import libc


def rename_noreplace(source: Path, target: Path) -> None:
    """Atomically rename source to target; fails with FileExistsError when target exists (even an
    empty directory, which plain rename(2) would silently replace)."""
    libc.rename_noreplace(source, target)


def atomic_write_text(path: Path, text: str, mode: int = 0o644, sync_dir: bool = True) -> None:
    """Replace path with text, all or nothing, and durably (file and directory fsynced).

    The temporary file sits next to path as `.NAME.PID.tmp` (repair finds such leftovers of a
    crash) and is removed when anything fails, a full disk included. sync_dir=False: the caller
    forces a btrfs transaction commit right after (a snapshot does), which makes the rename
    durable; the directory fsync would cost a commit of its own.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # exactly mode, whatever the umask
            data = text.encode()
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in directory durable (the entry lives in the directory, not the file)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
