"""Checkpoints: read-only snapshots of a session, kept outside its reach, and rewind.

A checkpoint is one `btrfs subvolume snapshot -r` of the session (O(1) in the size of the
tree) at `<sessions dir>/<user>.checkpoints/<id>`, with its metadata beside it in `<id>.json`.
The sessions dir is hidden in `enter`'s namespace and the checkpoints dir is root's 0700, so a
session can neither see nor change its checkpoints. Ids are small integers, never reused
within a session (the last one issued is noted in `.last`).

A checkpoint is listed only when both its snapshot and its metadata exist. take writes the
metadata first (fsynced, it then rides along with the commit the snapshot forces), delete
removes it first; a crash in between leaves one half, which is never listed and which repair
deletes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from herodev_shell.core import layout, limits
from herodev_shell.core.clock import now_iso
from herodev_shell.core.faults import maybe_fail
from herodev_shell.core.meta import read_meta, write_meta
from herodev_shell.core.names import allowed_text, name_problem
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, NotFound, UsageError
from herodev_shell.system import btrfs, quotas, snapshots, users
from herodev_shell.system.fsops import atomic_write_text
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.privileges import require_root
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info

MANUAL, SAFETY = "manual", "safety"  # made by `checkpoint`; taken by rewind before it rewinds
MAX_LABEL = 200
_ID_RE = re.compile(r"^[1-9][0-9]{0,8}$")
LAST_FILE = ".last"
# Temporary names inside the checkpoints dir while rewind swaps the session's snapshot.
REWIND_NEW, REWIND_OLD = ".rewind-new", ".rewind-old"


@dataclass(frozen=True)
class Checkpoint:
    id: str
    session: str
    label: str
    created: str
    kind: str
    path: str
    size: int | None = None  # bytes only this checkpoint holds, when quotas make that cheap


@dataclass(frozen=True)
class RewindReport:
    session: str
    checkpoint: str
    safety: Checkpoint | None  # the checkpoint of the state rewind replaced
    killed: int
    planned: bool = False


def label_problem(label: str) -> str | None:
    """Labels are shown to people: printable text only, and not a novel."""
    if len(label) > MAX_LABEL:
        return f"a checkpoint label is at most {MAX_LABEL} characters"
    for char in label:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return f"a checkpoint label cannot contain control characters (found {char!r})"
    return None


def validate_id(ident: str) -> str:
    """An id is a positive integer: nothing that could name a path."""
    if not _ID_RE.fullmatch(ident):  # fullmatch: '$' would let a trailing newline through
        raise UsageError(f"invalid checkpoint id {ident!r}", hint="an id is a number: 'herodev checkpoints NAME'")
    return ident


def session_paths_checked(settings: Settings, name: str) -> layout.SessionPaths:
    """The paths of an existing, whole session (NotFound / a clear error otherwise)."""
    problem = name_problem(name, settings.max_name_length)
    if problem:
        raise UsageError(problem, hint=allowed_text(settings.max_name_length))
    paths = layout.session_paths(settings, name)
    if not paths.meta.is_file():
        raise NotFound(f"no session named {name!r}", hint="'herodev list' shows the sessions")
    if not _is_subvolume(paths.snapshot):
        raise HerodevError(
            f"session {name} is half there: its snapshot {paths.snapshot} is missing",
            hint="'herodev repair' mends it, 'herodev delete -f NAME' removes it",
        )
    return paths


def _is_subvolume(path: Path) -> bool:
    """A subvolume root, by its inode number alone: the sessions dir is on btrfs already (init),
    and reading the mount table per checkpoint cost ~1 ms each (5 ms for a checkpoint here)."""
    try:
        return os.stat(path, follow_symlinks=False).st_ino == btrfs.SUBVOLUME_INODE
    except OSError:
        return False


def checkpoint_dir(paths: layout.SessionPaths, ident: str) -> Path:
    return paths.checkpoints / ident


def _meta_path(paths: layout.SessionPaths, ident: str) -> Path:
    return paths.checkpoints / f"{ident}.json"


def _read(paths: layout.SessionPaths, ident: str) -> dict[str, object] | None:
    try:
        data = json.loads(_meta_path(paths, ident).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ids_on_disk(paths: layout.SessionPaths) -> list[str]:
    try:
        names = os.listdir(paths.checkpoints)
    except OSError:
        return []
    found = {n.removesuffix(".json") for n in names}
    return sorted((n for n in found if _ID_RE.fullmatch(n)), key=int)


def _from_meta(paths: layout.SessionPaths, ident: str, meta: dict[str, object]) -> Checkpoint:
    return Checkpoint(
        id=ident,
        session=paths.name,
        label=str(meta.get("label", "")),
        created=str(meta.get("created", "")),
        kind=str(meta.get("kind", MANUAL)),
        path=os.fspath(checkpoint_dir(paths, ident)),
    )


def list_checkpoints(settings: Settings, runner: Runner, name: str, sizes: bool = True) -> list[Checkpoint]:
    """The session's checkpoints, oldest first; sizes from one qgroup listing when quotas are on."""
    paths = session_paths_checked(settings, name)
    found = []
    for ident in ids_on_disk(paths):
        meta = _read(paths, ident)
        if meta is not None and _is_subvolume(checkpoint_dir(paths, ident)):
            found.append(_from_meta(paths, ident, meta))
    if sizes and found and quotas.mode(settings.code_root) != quotas.OFF:
        found = [replace(c, size=_size(settings, Path(c.path))) for c in found]
    return found


def _size(settings: Settings, checkpoint: Path) -> int | None:
    """Bytes only this checkpoint holds (its own quota group, from sysfs: no process)."""
    try:
        usage = quotas.usage(settings.code_root, 0, subvolume_info(checkpoint).treeid)
    except OSError:
        return None
    return usage.exclusive if usage else None


def get_checkpoint(paths: layout.SessionPaths, ident: str) -> Checkpoint:
    ident = validate_id(ident)
    meta = _read(paths, ident)
    if meta is None or not _is_subvolume(checkpoint_dir(paths, ident)):
        known = ", ".join(ids_on_disk(paths)) or "none"
        raise NotFound(
            f"session {paths.name} has no checkpoint {ident}", hint=f"its checkpoints: {known} ('checkpoints NAME')"
        )
    return _from_meta(paths, ident, meta)


def _next_id(paths: layout.SessionPaths) -> str:
    last = 0
    with contextlib.suppress(OSError, ValueError):
        last = int((paths.checkpoints / LAST_FILE).read_text().strip() or 0)
    ids = [int(i) for i in ids_on_disk(paths)]
    return str(max([last, *ids]) + 1)


def _ensure_dir(paths: layout.SessionPaths) -> None:
    # 0700 root: session users (and everyone else) cannot look in, wherever they stand.
    paths.checkpoints.mkdir(mode=0o700, exist_ok=True)
    os.chmod(paths.checkpoints, 0o700)


def take(settings: Settings, runner: Runner, paths: layout.SessionPaths, label: str, kind: str) -> Checkpoint:
    """Snapshot + metadata, the caller holding the lock; the snapshot is removed if the rest fails."""
    _ensure_dir(paths)
    ident = _next_id(paths)
    # Note the id first: a crash later never hands the same id out twice.
    (paths.checkpoints / LAST_FILE).write_text(ident + "\n")
    target = checkpoint_dir(paths, ident)
    meta: dict[str, object] = {"id": ident, "session": paths.name, "label": label, "created": now_iso(), "kind": kind}
    # The metadata first: fsynced before the snapshot, it rides along with the commit the
    # snapshot forces anyway (after it, the fsync cost a commit of its own: ~10 ms at 100,000
    # files). A checkpoint is listed only when both exist; either half alone is repair's.
    # (no directory fsync: the snapshot's commit makes the rename durable)
    atomic_write_text(_meta_path(paths, ident), json.dumps(meta, indent=2) + "\n", 0o600, sync_dir=False)
    try:
        maybe_fail("checkpoint:after-metadata")
        _snapshot_into_group(settings, runner, paths, ident)
        maybe_fail("checkpoint:after-snapshot")
    except BaseException:
        if _is_subvolume(target):
            with contextlib.suppress(HerodevError, OSError):
                btrfs.delete_subvolume(target, runner)
        _meta_path(paths, ident).unlink(missing_ok=True)
        raise
    return _from_meta(paths, ident, meta)


def _snapshot_into_group(settings: Settings, runner: Runner, paths: layout.SessionPaths, ident: str) -> None:
    """One ioctl: the read-only snapshot, born a member of the session's quota group (so what
    it keeps counts in the session's figures and limit). Where the kernel will not combine the
    two, a plain snapshot and then the assignment."""
    group = _session_group(settings, paths)
    if runner.verbose:
        runner.echo(f"+ snapshot (ioctl) {paths.snapshot} -> {checkpoint_dir(paths, ident)} read-only")
    try:
        snapshots.snapshot(paths.snapshot, paths.checkpoints, ident, read_only=True, group=group)
        return
    except OSError as exc:
        if group is None:
            raise HerodevError(f"cannot checkpoint session {paths.name}: {exc.strerror}") from None
    try:
        snapshots.snapshot(paths.snapshot, paths.checkpoints, ident, read_only=True)
    except OSError as exc:
        raise HerodevError(f"cannot checkpoint session {paths.name}: {exc.strerror}") from None
    join_session_group(settings, runner, paths, [subvolume_info(checkpoint_dir(paths, ident)).treeid])


def _session_group(settings: Settings, paths: layout.SessionPaths) -> int | None:
    """The id N of the session's quota group 1/N, when quotas are on and it exists."""
    root = settings.code_root
    if quotas.mode(root) == quotas.OFF:
        return None
    try:
        session = subvolume_info(paths.snapshot).treeid
    except OSError:
        return None
    return session if quotas.usage(root, 1, session) is not None else None


def count_in_session_quota(settings: Settings, runner: Runner, paths: layout.SessionPaths, subvolume: Path) -> None:
    """A rewound snapshot is a new subvolume: it gets its own quota group and the session's limit
    (from the metadata); _carry_group then brings in what the old group counted."""
    from herodev_shell.core import quota_mode

    quota = (read_meta(paths) or {}).get("quota")
    # its own quota group (nested subvolumes join it under simple quotas) and the limit
    quota_mode.attach(settings, runner, subvolume, quota if isinstance(quota, int) else None)


def join_session_group(settings: Settings, runner: Runner, paths: layout.SessionPaths, members: list[int]) -> None:
    """Make subvolumes members of the session's quota group 1/<its subvolume>, so what they hold
    counts in its figures and its limit: checkpoints, and (at a rewind) the snapshots it
    replaced, whose bytes simple quotas keep charged to them while checkpoints still use them.
    A group or member that no longer exists is skipped: figures, not correctness, ride on it."""
    session = _session_group(settings, paths)
    if session is None:
        return
    for member in members:
        if runner.verbose:
            runner.echo(f"+ qgroup assign (ioctl) 0/{member} {quotas.group_for(session)}")
        with contextlib.suppress(OSError):
            snapshots.assign(settings.code_root, member, session)


def create_checkpoint(settings: Settings, runner: Runner, name: str, label: str = "") -> Checkpoint:
    """`checkpoint NAME [-m LABEL]`."""
    require_root("checkpoint", runner.dry_run)
    problem = label_problem(label)
    if problem:
        raise UsageError(problem)
    with exclusive_lock(settings.lock_file):
        paths = session_paths_checked(settings, name)
        if runner.dry_run:
            runner.say(f"would snapshot {paths.snapshot} read-only into {paths.checkpoints}")
            return Checkpoint("?", name, label, "", MANUAL, os.fspath(paths.checkpoints))
        return take(settings, runner, paths, label, MANUAL)


def delete_checkpoint(settings: Settings, runner: Runner, name: str, ident: str) -> Checkpoint:
    """`checkpoint --delete NAME ID`: the metadata goes first (the checkpoint stops being listed)."""
    require_root("checkpoint --delete", runner.dry_run)
    with exclusive_lock(settings.lock_file):
        paths = session_paths_checked(settings, name)
        found = get_checkpoint(paths, ident)
        if runner.dry_run:
            runner.say(f"would delete checkpoint {found.id} ({found.path})")
            return found
        _meta_path(paths, found.id).unlink()
        maybe_fail("checkpoint-delete:after-metadata")
        btrfs.delete_subvolume_tree(Path(found.path), runner)
    return found


def remove_all(paths: layout.SessionPaths, runner: Runner) -> list[str]:
    """Every checkpoint of a session (delete and repair); the ids removed."""
    if not paths.checkpoints.is_dir():
        return []
    removed = []
    for entry in sorted(os.listdir(paths.checkpoints)):
        target = paths.checkpoints / entry
        if _is_subvolume(target):
            btrfs.delete_subvolume_tree(target, runner)
            if _ID_RE.fullmatch(entry):
                removed.append(entry)
    if not runner.dry_run:
        for entry in os.listdir(paths.checkpoints):
            (paths.checkpoints / entry).unlink(missing_ok=True)
        paths.checkpoints.rmdir()
    return removed


def rewind(settings: Settings, runner: Runner, name: str, ident: str, force: bool) -> RewindReport:
    """The session goes back to a checkpoint; the state it leaves is kept as a safety checkpoint."""
    require_root("rewind", runner.dry_run)
    with exclusive_lock(settings.lock_file):
        paths = session_paths_checked(settings, name)
        target = get_checkpoint(paths, ident)
        user = users.lookup(paths.user)
        uid = user.uid if user and user.uid else None
        pids = limits.session_processes(settings, name, uid)  # its cgroup too: any uid in it
        if pids and not force:
            raise HerodevError(
                f"session {name} not rewound: {len(pids)} process(es) of {paths.user} are running",
                hint=f"'herodev rewind -f {name} {target.id}' ends them first; the current state is kept as a "
                "checkpoint either way, so -f throws away only those processes",
            )
        leftover = paths.checkpoints / REWIND_OLD
        if leftover.exists():
            raise HerodevError(f"an earlier rewind of {name} was cut short ({leftover})", hint="run 'herodev repair'")
        if runner.dry_run:
            runner.say(f"would checkpoint {name}, then replace its snapshot with checkpoint {target.id}")
            return RewindReport(name, target.id, None, len(pids), planned=True)
        # Processes first: what they write after the safety checkpoint would be lost.
        killed = limits.end_session_processes(settings, name, uid, runner) if pids else 0
        maybe_fail("rewind:after-processes")
        safety = take(settings, runner, paths, f"before rewind to {target.id}", SAFETY)
        _swap(settings, runner, paths, Path(target.path))
        meta = read_meta(paths)
        if meta:
            with contextlib.suppress(OSError):  # a note only: the rewind itself is done
                write_meta(paths, {**meta, "rewound_to": target.id, "rewound": now_iso()})
    return RewindReport(name, target.id, safety, killed)


def _carry_group(settings: Settings, runner: Runner, paths: layout.SessionPaths, old: Path) -> None:
    """The session's new quota group takes in its checkpoints and every snapshot it replaced
    (their ids are kept in the metadata): their bytes stay the session's."""
    meta = read_meta(paths) or {}
    kept = meta.get("retired_subvolumes")
    retired = [i for i in kept if isinstance(i, int)] if isinstance(kept, list) else []
    retired.append(subvolume_info(old).treeid)
    held = [subvolume_info(checkpoint_dir(paths, i)).treeid for i in ids_on_disk(paths)]
    join_session_group(settings, runner, paths, retired + held)
    if meta:
        write_meta(paths, {**meta, "retired_subvolumes": retired})


def _swap(settings: Settings, runner: Runner, paths: layout.SessionPaths, source: Path) -> None:
    """A writable snapshot of source takes the session snapshot's place; the old one goes.

    Each step is undone if a later one fails; a crash in between leaves names repair knows.
    """
    new, old = paths.checkpoints / REWIND_NEW, paths.checkpoints / REWIND_OLD
    if new.exists():
        btrfs.delete_subvolume_tree(new, runner)
    btrfs.snapshot(source, new, runner)
    try:
        maybe_fail("rewind:after-snapshot")
        count_in_session_quota(settings, runner, paths, new)
        os.rename(paths.snapshot, old)
        try:
            maybe_fail("rewind:after-move")
            os.rename(new, paths.snapshot)
        except BaseException:
            os.rename(old, paths.snapshot)
            raise
    except BaseException:
        with contextlib.suppress(HerodevError, OSError):
            btrfs.delete_subvolume_tree(new, runner)
        raise
    maybe_fail("rewind:after-swap")
    with contextlib.suppress(HerodevError, OSError):
        _carry_group(settings, runner, paths, old)
    # Past this point the rewind has happened; a failure to free the old tree is repair's job.
    with contextlib.suppress(HerodevError, OSError):
        from herodev_shell.core import quota_mode

        quota_mode.release(settings, runner, old)  # btrfs will not delete a group at its limit
        btrfs.delete_subvolume_tree(old, runner)
