"""What a crash leaves of checkpoints and rewinds, and how repair mends it (repair.py calls in).

- a checkpoint snapshot without its metadata (checkpoint cut before it wrote the metadata, or
  checkpoint --delete cut after it removed it): delete the snapshot;
- metadata without its snapshot: delete the metadata;
- `.rewind-new`: the writable snapshot a rewind made but never swapped in: delete it;
- `.rewind-old` with the session's snapshot in place: the rewind finished; delete it;
- `.rewind-old` without the session's snapshot: the rewind was cut between its two renames:
  put the old snapshot back (never lose the session's state);
- the checkpoints of a session that no longer exists (no metadata, no snapshot): delete them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from herodev_shell.core import checkpoints, layout
from herodev_shell.core.checks import Problem
from herodev_shell.core.names import name_problem
from herodev_shell.core.settings import Settings
from herodev_shell.system import btrfs
from herodev_shell.system.runner import Runner

HALF_CHECKPOINT = "half-made checkpoint"
CHECKPOINT_META_ONLY = "checkpoint metadata without snapshot"
REWIND_LEFTOVER = "leftover rewind snapshot"
REWIND_CUT = "rewind cut short"
ORPHAN_CHECKPOINTS = "checkpoints of a deleted session"
KINDS = (REWIND_CUT, REWIND_LEFTOVER, HALF_CHECKPOINT, CHECKPOINT_META_ONLY, ORPHAN_CHECKPOINTS)
_ID_RE = re.compile(r"^[1-9][0-9]{0,8}$")


def _is_subvolume(path: Path) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == btrfs.SUBVOLUME_INODE
    except OSError:
        return False


def _session_dirs(settings: Settings) -> list[layout.SessionPaths]:
    prefix = settings.user_prefix
    try:
        entries = sorted(os.listdir(settings.sessions_dir))
    except OSError:
        return []
    found = []
    for entry in entries:
        stem = entry.removesuffix(layout.CHECKPOINTS_SUFFIX)
        name = stem[len(prefix) :]
        if stem != entry and stem.startswith(prefix) and not name_problem(name, settings.max_name_length):
            found.append(layout.session_paths(settings, name))
    return found


def rewind_cut_short(paths: layout.SessionPaths) -> bool:
    """The session's snapshot is parked as .rewind-old: it must be put back, not deleted."""
    return not _is_subvolume(paths.snapshot) and _is_subvolume(paths.checkpoints / checkpoints.REWIND_OLD)


def problems(settings: Settings) -> list[Problem]:
    found = []
    for paths in _session_dirs(settings):
        where, name = paths.checkpoints, paths.name
        old, new = where / checkpoints.REWIND_OLD, where / checkpoints.REWIND_NEW
        cut = rewind_cut_short(paths)
        if cut:
            found.append(
                Problem(REWIND_CUT, name, str(old), "the session's snapshot was moved aside", "put it back in place")
            )
        elif not paths.meta.exists() and not _is_subvolume(paths.snapshot):
            found.append(Problem(ORPHAN_CHECKPOINTS, name, str(where), "the session is gone", "delete them"))
            continue
        for leftover in (new,) if cut else (new, old):
            if _is_subvolume(leftover):
                found.append(Problem(REWIND_LEFTOVER, name, str(leftover), "left by a rewind", "delete it"))
        try:
            entries = set(os.listdir(where))
        except OSError:
            continue
        for entry in sorted(entries):
            if _ID_RE.fullmatch(entry) and f"{entry}.json" not in entries and _is_subvolume(where / entry):
                found.append(Problem(HALF_CHECKPOINT, name, str(where / entry), "no metadata", "delete it"))
            if entry.endswith(".tmp"):
                found.append(Problem(CHECKPOINT_META_ONLY, name, str(where / entry), "half-written", "delete it"))
            stem = entry.removesuffix(".json")
            if stem != entry and _ID_RE.fullmatch(stem) and not _is_subvolume(where / stem):
                found.append(Problem(CHECKPOINT_META_ONLY, name, str(where / entry), "no snapshot", "delete it"))
    return found


def fix(settings: Settings, runner: Runner, problem: Problem) -> str:
    path = Path(problem.path)
    assert problem.session is not None
    paths = layout.session_paths(settings, problem.session)
    if problem.kind == REWIND_CUT:
        if not runner.dry_run:
            os.rename(path, paths.snapshot)
        return f"moved {path} back to {paths.snapshot}"
    if problem.kind in (REWIND_LEFTOVER, HALF_CHECKPOINT):
        btrfs.delete_subvolume_tree(path, runner)
        return f"deleted {path}"
    if problem.kind == CHECKPOINT_META_ONLY:
        if not runner.dry_run:
            path.unlink(missing_ok=True)
        return f"deleted {path}"
    removed = checkpoints.remove_all(paths, runner)
    return f"deleted {len(removed)} checkpoint(s) and {path}"
