"""A read-only snapshot of a session for one change scan: frozen, so nothing a session does while
we read can race us, and the btrfs change stream can compare it with the session's base."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from herodev_shell.core import layout
from herodev_shell.system import btrfs
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner

# One lock per session's scans (a dot name: not mistaken for a session piece by list or repair):
# a session whose scan hangs holds up no other session.
LOCK_SUFFIX = ".scan.lock"


def _scanner(runner: Runner) -> Runner:
    # The scan snapshot is temporary and read-only: take it even under --dry-run.
    return Runner(verbose=runner.verbose, dry_run=False, echo=runner.echo)


@contextlib.contextmanager
def scan_snapshot(paths: layout.SessionPaths, runner: Runner) -> Iterator[layout.SessionPaths]:
    """Take `<user>.scan` (replacing a leftover one), yield, and delete it again, also on error.

    One scan of a session at a time, so two `changes` never fight over the same snapshot.
    """
    scanner = _scanner(runner)
    lock = paths.meta.with_name(f".{paths.user}{LOCK_SUFFIX}")
    with exclusive_lock(lock, purpose=f"scan of {paths.name}", on_wait=runner.say):
        if paths.scan.exists():
            btrfs.delete_subvolume(paths.scan, scanner)
        btrfs.snapshot(paths.snapshot, paths.scan, scanner, read_only=True)
        try:
            yield paths
        finally:
            btrfs.delete_subvolume(paths.scan, scanner)


def change_dump(paths: layout.SessionPaths, runner: Runner) -> str:
    return btrfs.changed_paths_dump(paths.base, paths.scan, _scanner(runner))


def change_dump_between(base: Path, current: Path, runner: Runner) -> str:
    """The change stream between any two read-only snapshots of one session's lineage."""
    return btrfs.changed_paths_dump(base, current, _scanner(runner))
