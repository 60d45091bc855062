"""Finding and fixing what a crash or kill -9 leaves behind.

Every multi-step operation (create, delete, a change scan, enter) can be cut between two
steps. The rule repair follows: never lose work. A session whose snapshot still exists is
made whole again (user, base, metadata), never thrown away; pieces that can hold no work
(a user, base or metadata whose snapshot is gone, a change-scan snapshot, a mount, a
dead process's lock note) are removed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core.checks import PASS, WARN, CheckResult, Problem
from herodev_shell.core.layout import (
    BASE_SUFFIX,
    META_SUFFIX,
    SCAN_SUFFIX,
    TMP_SUFFIX,
    SessionPaths,
    missing_pieces,
    session_names,
    session_paths,
)
from herodev_shell.core.meta import new_meta, read_meta, write_meta
from herodev_shell.core.names import name_problem
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError
from herodev_shell.system import btrfs, privileges, users
from herodev_shell.system.mounts import mount_containing, read_mounts
from herodev_shell.system.runner import Runner

FIXED, FAILED, PLANNED = "fixed", "failed", "planned"

# kinds of problem
USER_WITHOUT_SNAPSHOT = "user without snapshot"
SNAPSHOT_WITHOUT_USER = "snapshot without user"
SNAPSHOT_WITHOUT_METADATA = "snapshot without metadata"
BASE_MISSING = "base snapshot missing"
HALF_DELETED = "half-deleted session"
LEFTOVER_BASE = "leftover base snapshot"
LEFTOVER_TMP = "leftover private /tmp"
STALE_SCAN = "leftover scan snapshot"
SESSION_MOUNT = "session mount left"
STALE_LOCK = "stale lock"
STALE_QGROUP = "stale quota group"
STALE_CGROUP = "cgroup of a deleted session"
LEFTOVER_TEMP = "half-written file"
# repair_checkpoints.KINDS, spelled here so this module imports it only when it repairs
_CHECKPOINT_KINDS = (
    "rewind cut short",
    "leftover rewind snapshot",
    "half-made checkpoint",
    "checkpoint metadata without snapshot",
    "checkpoints of a deleted session",
)


@dataclass(frozen=True)
class Repaired:
    kind: str
    session: str | None
    path: str
    status: str  # fixed | failed | planned
    detail: str


@dataclass(frozen=True)
class _Pieces:
    """What exists of one session, from one directory read and one passwd read."""

    paths: SessionPaths
    meta: bool
    snapshot: bool
    base: bool
    scan: bool
    user: users.User | None
    tmp: bool = False

    def missing(self) -> list[str]:
        return missing_pieces(self.user is not None, self.snapshot, self.base, self.meta)


def _is_subvolume(path: Path) -> bool:
    try:
        return os.stat(path, follow_symlinks=False).st_ino == btrfs.SUBVOLUME_INODE
    except OSError:
        return False


def _pieces(settings: Settings) -> list[_Pieces]:
    prefix = settings.user_prefix
    try:
        entries = sorted(os.listdir(settings.sessions_dir))
    except OSError:
        entries = []
    names: set[str] = set()
    for entry in entries:
        stem = entry
        for suffix in (META_SUFFIX, BASE_SUFFIX, SCAN_SUFFIX, TMP_SUFFIX):
            stem = stem.removesuffix(suffix)
        name = stem[len(prefix) :]
        if stem.startswith(prefix) and not name_problem(name, settings.max_name_length):
            names.add(name)
    owned = [u for u in users.users_with_prefix(prefix) if u.is_session_user and len(u.name) > len(prefix)]
    session_users = {u.name[len(prefix) :]: u for u in owned}
    names |= set(session_users)
    found = []
    for name in sorted(names):
        paths = session_paths(settings, name)
        found.append(
            _Pieces(
                paths=paths,
                meta=paths.meta.is_file(),
                snapshot=_is_subvolume(paths.snapshot),
                base=_is_subvolume(paths.base),
                scan=_is_subvolume(paths.scan),
                user=session_users.get(name),
                tmp=_is_subvolume(paths.tmp),
            )
        )
    return found


def _session_problems(piece: _Pieces) -> list[Problem]:
    p, name = piece.paths, piece.paths.name
    found = []
    if piece.snapshot:
        if not piece.meta:
            found.append(
                Problem(
                    SNAPSHOT_WITHOUT_METADATA,
                    name,
                    str(p.snapshot),
                    "create or delete was cut short",
                    "keep the snapshot and make the session whole again (delete it afterwards if unwanted)",
                )
            )
        if piece.user is None:
            found.append(
                Problem(
                    SNAPSHOT_WITHOUT_USER,
                    name,
                    str(p.snapshot),
                    f"user {p.user} does not exist",
                    f"create user {p.user} again (the snapshot's work is kept)",
                )
            )
        if not piece.base:
            found.append(
                Problem(
                    BASE_MISSING,
                    name,
                    str(p.base),
                    "the read-only base snapshot is missing",
                    "take the base from the session as it is now",
                )
            )
    else:
        if piece.meta:
            found.append(
                Problem(
                    HALF_DELETED,
                    name,
                    str(p.meta),
                    "metadata without a snapshot",
                    "finish the deletion: metadata, base and user",
                )
            )
        elif piece.user is not None:
            found.append(
                Problem(
                    USER_WITHOUT_SNAPSHOT,
                    name,
                    p.user,
                    "a session user without a snapshot",
                    f"end its processes and delete user {p.user}",
                )
            )
        if piece.base and not piece.meta:
            found.append(Problem(LEFTOVER_BASE, name, str(p.base), "a base without its session", "delete it"))
        if piece.tmp and not (piece.meta or piece.user or piece.base):
            found.append(Problem(LEFTOVER_TMP, name, str(p.tmp), "a private /tmp without its session", "delete it"))
    if piece.scan:
        found.append(Problem(STALE_SCAN, name, str(p.scan), "read-only snapshot left by a change scan", "delete it"))
    return found


def _temp_problems(settings: Settings) -> list[Problem]:
    """Half-written files (metadata, host state) from a write cut short by a crash or a full disk."""
    try:
        entries = sorted(os.listdir(settings.sessions_dir))
    except OSError:
        return []
    return [
        Problem(LEFTOVER_TEMP, None, str(settings.sessions_dir / e), "a half-written file", "delete it")
        for e in entries
        if e.endswith(".tmp")
    ]


def _mount_problems(settings: Settings) -> list[Problem]:
    """Session snapshots mounted in this namespace (enter mounts them only in a private one)."""
    if not settings.sessions_dir.exists():
        return []
    sessions_fs = "/" + btrfs.filesystem_path(settings.sessions_dir)
    sessions_dir = os.path.realpath(settings.sessions_dir)
    ours = mount_containing(settings.sessions_dir)
    found = []
    for mount in read_mounts():
        inside_dir = mount.target == sessions_dir or mount.target.startswith(sessions_dir + "/")
        # the same path on another filesystem (another code root) is not ours
        same_fs = ours is not None and mount.source == ours.source
        shows_session = same_fs and mount.fstype == "btrfs" and mount.root.startswith(sessions_fs + "/")
        if inside_dir or shows_session:
            found.append(
                Problem(SESSION_MOUNT, None, mount.target, f"{mount.root} mounted at {mount.target}", "unmount it")
            )
    return found


def _lock_problem(settings: Settings) -> list[Problem]:
    """flock dies with its process; the pid note it leaves says who held it, maybe long dead."""
    try:
        note = settings.lock_file.read_text().strip()
    except OSError:
        return []
    first = note.split(" ", 1)[0]  # "PID PURPOSE\tSINCE" (locking.py)
    if not first.isdigit():
        return []
    pid = int(first)
    try:
        os.kill(pid, 0)
        return []  # alive: not stale
    except ProcessLookupError:
        pass
    except PermissionError:
        return []
    detail = f"pid {pid} died holding it (the lock went with it; its note stayed)"
    return [Problem(STALE_LOCK, None, str(settings.lock_file), detail, "clear the note")]


def _retired_subvolumes(settings: Settings) -> set[int]:
    """Ids of the snapshots live sessions' rewinds replaced (their metadata keeps them): under
    simple quotas such a deleted subvolume's group still counts the bytes its checkpoints share,
    btrfs refuses to destroy it while they exist, and it goes with them. Not stale."""
    kept: set[int] = set()
    for name in session_names(settings):
        retired = (read_meta(session_paths(settings, name)) or {}).get("retired_subvolumes")
        if isinstance(retired, list):
            kept |= {i for i in retired if isinstance(i, int) and not isinstance(i, bool)}
    return kept


def _qgroup_problems(settings: Settings, runner: Runner) -> list[Problem]:
    groups = btrfs.qgroups(settings.code_root, runner) or []
    stale = [g for g in groups if g.path == "<stale>"]
    if stale:
        kept = _retired_subvolumes(settings)
        stale = [g for g in stale if g.subvolume_id not in kept]
    if stale and btrfs.cleaner_busy(settings.code_root, runner):
        return []
    return [
        Problem(STALE_QGROUP, None, f"0/{g.subvolume_id}", "quota group of a deleted subvolume", "destroy it")
        for g in stale
    ]


def _cgroup_problems(settings: Settings) -> list[Problem]:
    from herodev_shell.core import limits

    problems = []
    for name in limits.stale_groups(settings):
        group = limits.session_group(settings, name)
        running = len(limits.group_members(settings, name))
        detail = f"{running} process(es) still in it" if running else "empty"
        problems.append(Problem(STALE_CGROUP, name, group.relative, detail, "end its processes and remove it"))
    return problems


def find_problems(
    settings: Settings, runner: Runner, qgroups: bool = True, pieces: list[_Pieces] | None = None
) -> list[Problem]:
    from herodev_shell.core import repair_checkpoints

    problems: list[Problem] = repair_checkpoints.problems(settings)
    for piece in _pieces(settings) if pieces is None else pieces:
        if repair_checkpoints.rewind_cut_short(piece.paths):
            continue  # its snapshot is parked under the checkpoints: put back, never "finish deleting"
        problems += _session_problems(piece)
    problems += _temp_problems(settings)
    problems += _mount_problems(settings)
    problems += _lock_problem(settings)
    problems += _cgroup_problems(settings)
    if qgroups and settings.code_root.exists():
        # Kernels since 6.x drop a deleted subvolume's qgroup once it is cleaned; only a
        # qgroup still there when nothing is left to clean is worth a repair.
        problems += _qgroup_problems(settings, runner)
    return problems


# --- fixing --------------------------------------------------------------------------------


def _fix(settings: Settings, runner: Runner, problem: Problem) -> str:
    """Apply one fix; returns what was done."""
    paths = session_paths(settings, problem.session) if problem.session else None
    kind = problem.kind
    if kind == SESSION_MOUNT:
        btrfs.umount(Path(problem.path), runner, lazy=True)
        return f"unmounted {problem.path}"
    if kind == LEFTOVER_TEMP:
        Path(problem.path).unlink(missing_ok=True)
        return f"deleted {problem.path}"
    if kind == STALE_LOCK:
        settings.lock_file.write_text("")
        return "cleared the dead process's note"
    if kind == STALE_QGROUP:
        subvolume = int(problem.path.split("/")[1])
        if btrfs.destroy_qgroup(settings.code_root, subvolume, runner):
            return f"destroyed {problem.path}"
        raise HerodevError(f"btrfs still cleans the deleted subvolume {subvolume}: try again later")
    from herodev_shell.core import checkpoints, limits, repair_checkpoints

    if kind in repair_checkpoints.KINDS:
        return repair_checkpoints.fix(settings, runner, problem)
    assert paths is not None
    if kind == STALE_CGROUP:
        ended = limits.kill_session_processes(settings, paths.name)
        limits.remove_session_group(settings, paths.name)
        return f"removed cgroup {problem.path}" + (f" (ended {ended} process(es))" if ended else "")
    if kind == STALE_SCAN:
        btrfs.delete_subvolume_tree(paths.scan, runner)
        return f"deleted {paths.scan}"
    if kind in (HALF_DELETED, USER_WITHOUT_SNAPSHOT, LEFTOVER_BASE, LEFTOVER_TMP):
        done = []
        if paths.tmp.exists() and _is_subvolume(paths.tmp):
            btrfs.delete_subvolume_tree(paths.tmp, runner)
            done.append("private /tmp")
        if kind == HALF_DELETED and checkpoints.remove_all(paths, runner):
            done.append("checkpoints")
        if paths.base.exists() and _is_subvolume(paths.base):
            btrfs.delete_subvolume_tree(paths.base, runner)
            done.append("base")
        user = users.lookup(paths.user)
        if user is not None and user.is_session_user:
            limits.end_session_processes(settings, paths.name, user.uid, runner)
            limits.remove_session_group(settings, paths.name)
            users.delete_user(paths.user, runner)
            done.append(f"user {paths.user}")
        if paths.meta.exists() and not runner.dry_run:
            paths.meta.unlink()
            done.append("metadata")
        return "removed " + ", ".join(done) if done else "nothing left to remove"
    if kind == SNAPSHOT_WITHOUT_USER:
        if users.lookup(paths.user) is None:
            users.create_user(paths.user, f"{users.COMMENT_PREFIX} {paths.name}", runner)
            user = users.lookup(paths.user)
            if user is not None and not runner.dry_run:  # with the git identity create gave it
                from herodev_shell.core import identity
                from herodev_shell.system import gitidentity

                name, email = identity.recorded(settings, paths.name, read_meta(paths))
                gitidentity.write(user.name, user.home, name, email, runner)
        return f"created user {paths.user} again"
    if kind == BASE_MISSING:
        if not _is_subvolume(paths.base):
            btrfs.snapshot(paths.snapshot, paths.base, runner, read_only=True)
        return f"took {paths.base} from the session"
    if kind == SNAPSHOT_WITHOUT_METADATA:
        _rebuild_metadata(settings, runner, paths)
        return f"wrote {paths.meta}"
    raise HerodevError(f"no repair for {kind}")


def _rebuild_metadata(settings: Settings, runner: Runner, paths: SessionPaths) -> None:
    """The metadata create writes last, from what is on disk now (a create cut before it)."""
    from herodev_shell.core import sessions
    from herodev_shell.core.hoststate import require_state
    from herodev_shell.system import idmap

    state = require_state(settings)
    user = users.lookup(paths.user)
    if user is None:
        raise HerodevError(f"user {paths.user} is missing")
    use_idmap, _ = idmap.support(settings.code_root)
    if runner.dry_run:
        return
    meta = new_meta(
        settings,
        paths,
        user,
        btrfs.subvolume_generation(paths.base, runner),
        (state.code_owner_uid, state.code_owner_gid),
        sessions.ACCESS_IDMAP if use_idmap else sessions.ACCESS_CHOWN,
        recovered_by="repair",
    )
    write_meta(paths, meta)


# Order matters: mounts first (they pin subvolumes), then users before metadata.
_ORDER = [
    SESSION_MOUNT,
    STALE_LOCK,
    LEFTOVER_TEMP,
    STALE_SCAN,
    *_CHECKPOINT_KINDS,
    SNAPSHOT_WITHOUT_USER,
    BASE_MISSING,
    SNAPSHOT_WITHOUT_METADATA,
    HALF_DELETED,
    USER_WITHOUT_SNAPSHOT,
    LEFTOVER_BASE,
    LEFTOVER_TMP,
    STALE_QGROUP,
    STALE_CGROUP,
]


def repair_order(problems: list[Problem]) -> list[Problem]:
    """The order repair fixes problems in (_ORDER); stable within a kind."""
    return sorted(problems, key=lambda p: _ORDER.index(p.kind))


def repair(settings: Settings, runner: Runner) -> list[Repaired]:
    """Fix every problem found, under the sessions lock so no create or delete runs meanwhile."""
    from herodev_shell.system.locking import exclusive_lock

    privileges.require_root("repair", runner.dry_run)
    # Under --dry-run even the lock's note stays as it is.
    lockable = settings.sessions_dir.exists() and not runner.dry_run
    lock = exclusive_lock(settings.lock_file) if lockable else contextlib.nullcontext()
    # Taking the lock overwrites a dead holder's note: look at it first.
    results = [
        Repaired(p.kind, None, p.path, PLANNED if runner.dry_run else FIXED, p.fix + ": " + p.detail)
        for p in _lock_problem(settings)
    ]
    with lock:
        problems = repair_order([p for p in find_problems(settings, runner) if p.kind != STALE_LOCK])
        for problem in problems:
            if runner.dry_run:
                results.append(Repaired(problem.kind, problem.session, problem.path, PLANNED, problem.fix))
                continue
            try:
                detail = _fix(settings, runner, problem)
                results.append(Repaired(problem.kind, problem.session, problem.path, FIXED, detail))
            except (HerodevError, OSError) as exc:
                message = exc.message if isinstance(exc, HerodevError) else str(exc)
                results.append(Repaired(problem.kind, problem.session, problem.path, FAILED, message))
        results += _repair_git(settings, runner)
    from herodev_shell.core import audit

    audit.add_detail("repaired", [f"{r.kind}: {r.session or r.path}: {r.status}" for r in results])
    return results


def _repair_git(settings: Settings, runner: Runner) -> list[Repaired]:
    """What a commit or push cut short leaves in repositories (repair_git.py)."""
    from herodev_shell.core import repair_git

    results = []
    for leftover in repair_git.find(settings):
        where = str(leftover.git_dir)
        if runner.dry_run:
            results.append(Repaired(leftover.kind, leftover.session, where, PLANNED, leftover.detail))
            continue
        try:
            detail = repair_git.fix(leftover, runner)
            results.append(Repaired(leftover.kind, leftover.session, where, FIXED, f"{leftover.detail}: {detail}"))
        except (HerodevError, OSError) as exc:
            message = exc.message if isinstance(exc, HerodevError) else str(exc)
            results.append(Repaired(leftover.kind, leftover.session, where, FAILED, message))
    return results


# A session missing one of its four pieces: the `sessions` row of check says it (once).
HALF_MADE = frozenset(
    {SNAPSHOT_WITHOUT_METADATA, SNAPSHOT_WITHOUT_USER, BASE_MISSING, HALF_DELETED, USER_WITHOUT_SNAPSHOT, LEFTOVER_BASE}
)


def check_rows(settings: Settings, runner: Runner) -> list[CheckResult]:
    """Rows for `check`: quotas on, half-made sessions, and anything else a crash left (warnings:
    repair fixes them). One read of the sessions dir and of passwd feeds them all."""
    from herodev_shell.core import repair_checkpoints
    from herodev_shell.core.quota_mode import check_row

    if not settings.sessions_dir.exists() or not btrfs.is_btrfs(settings.code_root):
        return []
    quota = check_row(settings)
    rows = [CheckResult("quotas", PASS if quota.status == "pass" else WARN, quota.detail)]
    pieces = _pieces(settings)
    half = [p for p in pieces if p.missing() and not repair_checkpoints.rewind_cut_short(p.paths)]
    if half:
        listed = "; ".join(f"{p.paths.name} (no {', '.join(p.missing())})" for p in half)
        fix = "'herodev repair' makes each whole or removes it; 'herodev delete -f NAME' removes one"
        rows.append(CheckResult("sessions", WARN, f"half-there sessions: {listed} ({fix})"))
    else:
        rows.append(CheckResult("sessions", PASS, f"{len(pieces)} session(s), nothing half there"))
    problems = [p for p in find_problems(settings, runner, qgroups=False, pieces=pieces) if p.kind not in HALF_MADE]
    if not problems:
        rows.append(CheckResult("leftovers", PASS, "no stale snapshots, mounts, locks or half-written files"))
    for problem in problems:
        where = problem.session or problem.path
        rows.append(CheckResult("leftovers", WARN, f"{problem.kind}: {where}: {problem.detail}; run 'herodev repair'"))
    return rows
