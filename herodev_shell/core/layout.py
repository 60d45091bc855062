"""Where a session's pieces live under the sessions dir. Cheap: no process, no heavy import.

    <sessions dir>/<user>          the session's writable snapshot of the code root
    <sessions dir>/<user>.base     read-only snapshot of the code root taken at the same moment
    <sessions dir>/<user>.scan     read-only snapshot of the session, taken for a change scan
    <sessions dir>/<user>.json     metadata (name, user, created, base generation, code owner)
    <sessions dir>/<user>.checkpoints/<id>       read-only checkpoints of the session (0700 dir)
    <sessions dir>/<user>.checkpoints/<id>.json  a checkpoint's metadata (label, created, kind)

The metadata sits outside the snapshot so a session user can never edit it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core.names import allowed_text, shape_problem
from herodev_shell.core.settings import Settings
from herodev_shell.errors import UsageError

META_SUFFIX = ".json"
TMP_SUFFIX = ".tmpdir"  # not ".tmp": repair takes those for half-written files
BASE_SUFFIX = ".base"
SCAN_SUFFIX = ".scan"
CHECKPOINTS_SUFFIX = ".checkpoints"


@dataclass(frozen=True)
class SessionPaths:
    name: str
    user: str
    snapshot: Path
    base: Path
    scan: Path
    meta: Path
    checkpoints: Path
    tmp: Path  # the session's private /tmp (its own subvolume, mounted on /tmp inside)


def session_paths(settings: Settings, name: str) -> SessionPaths:
    """Where the session's pieces live. A name that is not a session name's shape ('x/../..',
    a newline, a slash) is a usage error here, so no path is ever built from one."""
    problem = shape_problem(name, settings.max_name_length)
    if problem:
        raise UsageError(problem, hint=allowed_text(settings.max_name_length))
    user = settings.user_for(name)
    root = settings.sessions_dir
    return SessionPaths(
        name=name,
        user=user,
        snapshot=root / user,
        base=root / f"{user}{BASE_SUFFIX}",
        scan=root / f"{user}{SCAN_SUFFIX}",
        meta=root / f"{user}{META_SUFFIX}",
        checkpoints=root / f"{user}{CHECKPOINTS_SUFFIX}",
        tmp=root / f"{user}{TMP_SUFFIX}",
    )


def host_tmp_shared(settings: Settings) -> bool:
    """Whether sessions must keep the host's /tmp: a code root under /tmp would vanish under a
    private one (enter, exec and hooks then share /tmp with the host and every other session)."""
    return settings.code_root.resolve().is_relative_to("/tmp")


def session_names(settings: Settings) -> list[str]:
    """Names of sessions that have metadata, sorted; one directory read, fine for thousands."""
    prefix = settings.user_prefix
    try:
        entries = os.scandir(settings.sessions_dir)
    except OSError:
        return []
    names = []
    with entries:
        for entry in entries:
            stem = entry.name[: -len(META_SUFFIX)] if entry.name.endswith(META_SUFFIX) else None
            if stem and stem.startswith(prefix) and len(stem) > len(prefix):
                name = stem[len(prefix) :]
                if not shape_problem(name, settings.max_name_length):
                    names.append(name)
    return sorted(names)


def missing_pieces(user: bool, snapshot: bool, base: bool, meta: bool) -> list[str]:
    """What a session lacks of its four pieces: the one rule for "half there" (list, info,
    check and repair all say it with these words)."""
    have = {"user": user, "snapshot": snapshot, "base": base, "metadata": meta}
    return [piece for piece, present in have.items() if not present]
