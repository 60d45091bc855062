"""The sessions dir is a btrfs subvolume of its own, so a snapshot of the code root never
carries it: a session (whose snapshot is one of the code root) or a snapshot a session
takes of its own tree then holds an empty `.sessions`, never other sessions' metadata.

`init` makes it one on a new host, and migrates an existing host (a plain directory):
a staging subvolume beside it receives every entry, then two renames swap them. Each step
can be cut short and `init` run again:

- writable subvolumes (session snapshots, private /tmp) are renamed whole (O(1));
- read-only ones (bases, checkpoints, scans) cannot be renamed (EROFS): a read-only
  snapshot is taken at the new place (O(1)), then the old one is deleted by id;
- plain directories are made again and their entries moved; files are renamed or copied
  (a rename cannot cross subvolumes), then the original removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from herodev_shell.core.settings import Settings
from herodev_shell.system import btrfs, subvolids
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info_fd

STAGING_SUFFIX = ".migrating"
EMPTIED_SUFFIX = ".premigrate"


def is_own_subvolume(settings: Settings) -> bool:
    return btrfs.is_subvolume(settings.sessions_dir)


def _read_only(path: Path) -> bool:
    fd = subvolids.open_subvolume(path.parent, path.name)
    try:
        return subvolume_info_fd(fd).read_only
    finally:
        os.close(fd)


def _move(src: Path, dst: Path, runner: Runner) -> None:
    info = os.lstat(src)
    if stat.S_ISDIR(info.st_mode) and info.st_ino == btrfs.SUBVOLUME_INODE:
        if not _read_only(src):
            os.rename(src, dst)
            return
        if not dst.exists():
            btrfs.snapshot(src, dst, runner, read_only=True)
        btrfs.delete_subvolume_tree(src, runner)
        return
    if stat.S_ISDIR(info.st_mode):
        dst.mkdir(exist_ok=True)
        os.chown(dst, info.st_uid, info.st_gid)
        os.chmod(dst, stat.S_IMODE(info.st_mode))
        for name in sorted(os.listdir(src)):
            _move(src / name, dst / name, runner)
        os.rmdir(src)
        return
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(src, dst, follow_symlinks=False)
        os.chown(dst, info.st_uid, info.st_gid, follow_symlinks=False)
        if not stat.S_ISLNK(info.st_mode):
            fd = os.open(dst, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.unlink(src)


def create(settings: Settings, runner: Runner) -> None:
    """A new sessions dir: a subvolume, root's only (0700)."""
    btrfs.create_subvolume(settings.sessions_dir, runner)
    if not runner.dry_run:
        os.chmod(settings.sessions_dir, 0o700)


def migrate(settings: Settings, runner: Runner) -> str | None:
    """Make an existing sessions dir a subvolume of its own; what was done, None when nothing was."""
    sessions = settings.sessions_dir
    staging = sessions.with_name(sessions.name + STAGING_SUFFIX)
    emptied = sessions.with_name(sessions.name + EMPTIED_SUFFIX)
    if runner.dry_run:
        if btrfs.is_subvolume(sessions):
            return None
        runner.say(f"would move {sessions} into a subvolume of its own")
        return f"would make {sessions} a subvolume"
    if not sessions.exists() and btrfs.is_subvolume(staging):
        os.rename(staging, sessions)  # an earlier run stopped between its two renames
    if btrfs.is_subvolume(sessions):
        if emptied.is_dir() and not os.listdir(emptied):
            os.rmdir(emptied)
        return None
    if not staging.exists():
        btrfs.create_subvolume(staging, runner)
    os.chmod(staging, 0o700)
    # Under the global lock (held on the old lock file's inode): nothing creates or deletes a
    # session meanwhile, so nothing lands in the old directory after it was emptied.
    with exclusive_lock(settings.lock_file):
        entries = sorted(os.listdir(sessions))
        for name in entries:
            _move(sessions / name, staging / name, runner)
        os.rename(sessions, emptied)
    os.rename(staging, sessions)
    os.rmdir(emptied)
    return f"moved {len(entries)} entries of {sessions} into a subvolume of its own"
