"""Sessions: create, list, info, enter, delete. Each changing step under the lock, undone on failure.

A session NAME is the user <prefix>NAME, a writable snapshot of the code root, a read-only
snapshot of the code root taken at the same moment (its base), and a metadata file; see
layout.py for where each lives.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from herodev_shell.core import identity, layout, quota_mode
from herodev_shell.core import limits as limits_meta
from herodev_shell.core.faults import maybe_fail
from herodev_shell.core.hoststate import HostState, require_state
from herodev_shell.core.limits import default_limits as session_limits_defaults
from herodev_shell.core.meta import new_meta, read_meta, write_meta
from herodev_shell.core.names import allowed_text, name_problem, validate_name
from herodev_shell.core.settings import Settings
from herodev_shell.errors import EXIT_INTERRUPTED, HerodevError, NotFound, UsageError
from herodev_shell.system import btrfs, gitidentity, idmap, privileges, procs, quotas, subids, users
from herodev_shell.system.cgroups import Limits, Usage
from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info

ACCESS_IDMAP = "idmap"  # an idmapped mount at enter: nothing chowned, constant time
ACCESS_CHOWN = "chown"  # fallback: the owner's files in the snapshot were chowned once at create


@dataclass(frozen=True)
class SessionInfo:
    name: str
    user: str
    path: str
    created: str
    uid: int | None = None
    base_generation: int | None = None
    code_owner_uid: int | None = None
    code_owner_gid: int | None = None
    access: str = ACCESS_IDMAP
    processes: int = 0
    changed: bool | None = None  # cheap answer for listings; None when unknown
    size: int | None = None  # bytes on disk, when cheap to know (quotas)
    problems: tuple[str, ...] = ()  # what is missing of a half-there session
    notes: tuple[str, ...] = ()
    git_name: str | None = None  # the identity git uses in the session (create --git-name)
    git_email: str | None = None
    limits: Limits = field(default_factory=Limits)  # from the metadata (None inside: no limit)
    usage: Usage | None = None  # from the session's cgroup, when asked for (info, list --usage)


@dataclass(frozen=True)
class DeleteReport:
    name: str
    user: str
    killed: int
    lost: tuple[str, ...]  # the work thrown away (session_has_work's reasons)
    removed: tuple[str, ...]
    planned: bool = False
    checkpoints: tuple[str, ...] = ()  # ids of the checkpoints deleted with it


# --- metadata -------------------------------------------------------------------------------


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _info_from(
    paths: layout.SessionPaths,
    meta: dict[str, object],
    user: users.User | None,
    processes: dict[int, list[int]],
) -> SessionInfo:
    where = {"user": paths.user, "snapshot": paths.snapshot, "base": paths.base, "metadata": paths.meta}
    lacking = layout.missing_pieces(user is not None, paths.snapshot.is_dir(), paths.base.is_dir(), bool(meta))
    problems = [
        f"{piece} {where[piece]} is missing" + (" or unreadable" if piece == "metadata" else "") for piece in lacking
    ]
    uid = user.uid if user else None
    return SessionInfo(
        name=paths.name,
        user=paths.user,
        path=os.fspath(paths.snapshot),
        created=str(meta.get("created", "")),
        uid=uid,
        base_generation=_int_or_none(meta.get("base_generation")),
        code_owner_uid=_int_or_none(meta.get("code_owner_uid")),
        code_owner_gid=_int_or_none(meta.get("code_owner_gid")),
        access=str(meta.get("access", ACCESS_IDMAP)),
        processes=len(processes.get(uid, [])) if uid is not None else 0,
        changed=_cheap_changed(paths, inherited=bool(meta.get("forked_from") or meta.get("rewound_to"))),
        problems=tuple(problems),
        git_name=_str_or_none(meta.get("git_name")),
        git_email=_str_or_none(meta.get("git_email")),
        limits=limits_meta.from_meta(meta),
    )


def _cheap_changed(paths: layout.SessionPaths, inherited: bool = False) -> bool | None:
    """Whether the snapshot changed since it was made, from one ioctl (as of the last commit).

    inherited: a fork or a rewound session starts from a state that may already differ from
    its base, so an untouched snapshot says nothing there (None: 'changes' tells)."""
    try:
        info = subvolume_info(paths.snapshot)
    except OSError:
        return None
    if info.ctransid > info.otransid:
        return True
    return None if inherited else False


# --- list, info -----------------------------------------------------------------------------


def list_sessions(settings: Settings, with_usage: bool = False) -> list[SessionInfo]:
    """Every session with metadata: one directory read, one passwd read, one /proc pass
    (and with_usage, a few cgroup files per session)."""
    where = settings.sessions_dir
    if where.is_dir() and not os.access(where, os.R_OK | os.X_OK, effective_ids=True):
        raise HerodevError(f"cannot read {where}: only root sees the sessions", hint="sudo herodev list")
    names = layout.session_names(settings)
    if not names:
        return []
    all_users = users.all_users()
    processes = users.processes_by_uid()
    result = []
    for name in names:
        paths = layout.session_paths(settings, name)
        info = _info_from(paths, read_meta(paths) or {}, all_users.get(paths.user), processes)
        result.append(replace(info, usage=limits_meta.usage(settings, name)) if with_usage else info)
    return result


def _existing_hint(settings: Settings) -> str:
    names = layout.session_names(settings)
    if names:
        return "existing sessions: " + ", ".join(names)
    return "there are no sessions yet: create one with 'herodev create NAME'"


def get_session(settings: Settings, name: str) -> SessionInfo:
    paths = layout.session_paths(settings, name)
    meta = read_meta(paths) if not name_problem(name, settings.max_name_length) else None
    if meta is None:
        if not os.access(settings.sessions_dir, os.X_OK, effective_ids=True) and settings.sessions_dir.exists():
            raise NotFound(f"cannot read {settings.sessions_dir}", hint=f"sudo herodev ... (is '{name}' a session?)")
        raise NotFound(f"no session named {name!r}", hint=_existing_hint(settings))
    info = _info_from(paths, meta, users.lookup(paths.user), users.processes_by_uid())
    return replace(info, usage=limits_meta.usage(settings, name))


# --- create ---------------------------------------------------------------------------------


def _refuse_existing(settings: Settings, paths: layout.SessionPaths) -> None:
    user = users.lookup(paths.user)
    present = [str(p) for p in (paths.meta, paths.snapshot, paths.base, paths.scan, paths.checkpoints) if p.exists()]
    if user is not None:
        present.insert(0, f"user {paths.user}")
    if paths.meta.exists() and user is not None and paths.snapshot.is_dir() and paths.base.is_dir():
        raise HerodevError(f"session {paths.name} already exists", hint="choose another name, or 'herodev list'")
    if present:
        raise HerodevError(
            f"session {paths.name} is half there (only {', '.join(present)}) after an earlier failure",
            hint=f"'herodev delete -f {paths.name}' cleans it up",
        )


def refuse_foreign_user(settings: Settings, paths: layout.SessionPaths) -> None:
    """A session's user name may already exist only as a herodev session user (a half-made
    session repair can finish); never take over an account someone else made."""
    existing = users.lookup(paths.user)
    if existing is not None and not existing.is_session_user and not paths.meta.exists():
        raise UsageError(
            f"user {paths.user} already exists and is not a herodev session",
            hint="choose another name; " + allowed_text(settings.max_name_length),
        )


def create_session(
    settings: Settings,
    runner: Runner,
    name: str,
    quota: int | None = None,
    git_name: str | None = None,
    git_email: str | None = None,
    limits: Limits | None = None,
) -> SessionInfo:
    """User (with its git identity) + base snapshot + writable snapshot + metadata + cgroup; any
    failure undoes the earlier steps. limits: None takes the settings' defaults (HERODEV_MEMORY,
    HERODEV_CPUS, HERODEV_TASKS)."""
    privileges.require_root("create", runner.dry_run)
    validate_name(settings, name)
    author, email = identity.choose(settings, name, git_name, git_email)
    state = require_state(settings)
    limits = session_limits_defaults(settings) if limits is None else limits
    if quota is not None and quotas.mode(settings.code_root) == quotas.OFF:
        raise HerodevError(
            "--quota needs btrfs quotas, which are off", hint="'sudo herodev init --quotas simple' turns them on"
        )
    paths = layout.session_paths(settings, name)
    refuse_foreign_user(settings, paths)
    with exclusive_lock(settings.lock_file):
        _refuse_existing(settings, paths)
        use_idmap, idmap_detail = idmap.support(settings.code_root)
        if runner.dry_run:
            runner.say(f"would create user {paths.user}, snapshots {paths.base} (read-only) and {paths.snapshot}")
            return SessionInfo(name, paths.user, os.fspath(paths.snapshot), "", notes=("dry run: nothing created",))
        undo: list[tuple[str, Callable[[], None]]] = []
        try:
            # Ids no live process holds: a survivor of a deleted session never owns this one.
            held = procs.held_ids()
            users.create_user(paths.user, f"{users.COMMENT_PREFIX} {name}", runner, held)
            undo.append((f"user {paths.user}", lambda: users.delete_user(paths.user, runner)))
            maybe_fail("create:after-user")
            user = users.lookup(paths.user)
            if user is None:
                raise HerodevError(f"useradd reported success but {paths.user} does not exist")
            subids.ensure(user.name, user.uid, runner, held)  # rootless podman needs subordinate ids
            gitidentity.write(user.name, user.home, author, email, runner)  # git commit in enter just works
            notes = _make_snapshots(settings, runner, paths, state, user, use_idmap, idmap_detail, undo)
            maybe_fail("create:after-snapshot")
            # Its quota group: figures (nested subvolumes included under simple quotas) and the limit.
            quota_mode.attach_session(settings, runner, name, quota)
            meta = new_meta(
                settings,
                paths,
                user,
                btrfs.subvolume_generation(paths.base, runner),
                (state.code_owner_uid, state.code_owner_gid),
                ACCESS_IDMAP if use_idmap else ACCESS_CHOWN,
                quota=quota,
                git_name=author,
                git_email=email,
                **{limits_meta.META_KEY: limits_meta.to_meta(limits)},
            )
            write_meta(paths, meta)
            undo.append((f"metadata {paths.meta}", lambda: paths.meta.unlink(missing_ok=True)))
            undo.append((f"cgroup of {paths.user}", lambda: limits_meta.remove_session_group(settings, name)))
            limits_meta.prepare_group(settings, name, limits)  # a limit the host cannot enforce fails here
            maybe_fail("create:after-metadata")
        except BaseException as exc:
            left = _undo(undo)
            hint = (
                f"left behind: {'; '.join(left)}; 'herodev delete -f {name}' cleans up"
                if left
                else "every earlier step was undone"
            )
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: undone, and the exit status says so
                raise HerodevError(f"create {name} interrupted", hint=hint, exit_code=EXIT_INTERRUPTED) from exc
            if not isinstance(exc, Exception):
                raise  # SystemExit (SIGTERM in the shell) and the like: undone, then on their way
            reason = exc.message if isinstance(exc, HerodevError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, OSError) and exc.strerror:
                reason = f"{exc.strerror.lower()} ({exc.filename or settings.code_root})"
            raise HerodevError(f"could not create session {name}: {reason}", hint=hint) from exc
    info = get_session(settings, name)
    return replace(info, notes=tuple(notes))


def _make_snapshots(
    settings: Settings,
    runner: Runner,
    paths: layout.SessionPaths,
    state: HostState,
    user: users.User,
    use_idmap: bool,
    idmap_detail: str,
    undo: list[tuple[str, Callable[[], None]]],
) -> list[str]:
    """The base (read-only) and the session's writable snapshot, from the same moment."""
    if use_idmap:
        # The writable snapshot is made from the base, so both hold exactly the same tree.
        btrfs.snapshot(settings.code_root, paths.base, runner, read_only=True)
        undo.append((str(paths.base), lambda: btrfs.delete_subvolume(paths.base, runner)))
        btrfs.snapshot(paths.base, paths.snapshot, runner)
        undo.append((str(paths.snapshot), lambda: btrfs.delete_subvolume(paths.snapshot, runner)))
        return []
    # Fallback: chown the owner's files once, then take the base from the chowned snapshot so
    # that the ownership change does not count as the session's work.
    btrfs.snapshot(settings.code_root, paths.snapshot, runner)
    undo.append((str(paths.snapshot), lambda: btrfs.delete_subvolume(paths.snapshot, runner)))
    owner_uid, owner_gid = state.code_owner_uid, state.code_owner_gid
    target = os.fspath(paths.snapshot)
    runner.run(["chown", "-R", "-h", f"--from={owner_uid}", str(user.uid), target], timeout=None)
    runner.run(["chown", "-R", "-h", f"--from=:{owner_gid}", f":{user.gid}", target], timeout=None)
    btrfs.snapshot(paths.snapshot, paths.base, runner, read_only=True)
    undo.append((str(paths.base), lambda: btrfs.delete_subvolume(paths.base, runner)))
    return [f"idmapped mounts are not available ({idmap_detail}); the snapshot was chowned once instead (slower)"]


def _undo(undo: list[tuple[str, Callable[[], None]]]) -> list[str]:
    """Run the undo steps newest first; what could not be undone, each with why."""
    left = []
    for what, step in reversed(undo):
        try:
            step()
        except Exception as exc:  # every step is tried; each failure is reported, none hidden
            why = exc.message if isinstance(exc, HerodevError) else (getattr(exc, "strerror", None) or str(exc))
            left.append(f"{what} ({why or type(exc).__name__})")
    return left


# --- work that would be lost ----------------------------------------------------------------


def session_has_work(settings: Settings, runner: Runner, name: str) -> list[str]:
    """Reasons deleting the session would lose work; empty when there are none.

    Repository-aware (changes.py): names each repository with uncommitted changes, unpushed
    commits, new branches or stashes, and counts changed files outside any repository.
    """
    from herodev_shell.core.changes import session_work_reasons

    paths = layout.session_paths(settings, name)
    if not paths.snapshot.is_dir():
        return []
    if not paths.base.is_dir():
        return [f"its base snapshot is missing, so what it changed cannot be told ({paths.base})"]
    return session_work_reasons(settings, runner, name) + checkpoint_work_reasons(settings, runner, name)


def checkpoint_work_reasons(settings: Settings, runner: Runner, name: str) -> list[str]:
    """Work a checkpoint holds (changes against the base): deleting it would lose that too.

    Conservative: commits pushed after the checkpoint was taken still count, since the
    checkpoint's own tracking refs predate the push. Deleting the checkpoint clears it.
    """
    from herodev_shell.core import checkpoints
    from herodev_shell.core.changes import scan

    paths = layout.session_paths(settings, name)
    if not paths.checkpoints.is_dir() or not paths.meta.is_file():
        return []
    reasons = []
    for checkpoint in checkpoints.list_checkpoints(settings, runner, name, sizes=False):
        report = scan(settings, runner, name, end=checkpoint.id)
        # Only what would be lost: a repository the checkpoint merely shows as touched since
        # the base (work committed and pushed before it was taken) holds nothing.
        held = [f"{r.path}: {r.summary()}" for r in report.repos if r.has_changes]
        if report.outside:
            held.append(f"{len(report.outside)} changed path(s) outside any repository")
        if held:
            reasons.append(f"checkpoint {checkpoint.id} holds {'; '.join(held)}")
    return reasons


# --- delete ---------------------------------------------------------------------------------


def _session_user(paths: layout.SessionPaths, has_meta: bool) -> users.User | None:
    """The session's user, but never someone else's account that merely shares the name."""
    user = users.lookup(paths.user)
    if user is None or user.uid == 0:
        return None
    return user if (user.is_session_user or has_meta) else None


def _orphan_uid(meta: dict[str, object] | None) -> int | None:
    uid = meta.get("uid") if meta else None
    if not isinstance(uid, int) or uid <= 0 or users.name_of_uid(uid) is not None:
        return None
    return uid


def delete_session(settings: Settings, runner: Runner, name: str, force: bool) -> DeleteReport:
    """Remove every piece of the session that exists; refuse while work or processes would be lost."""
    privileges.require_root("delete", runner.dry_run)
    problem = name_problem(name, settings.max_name_length)
    if problem:
        raise UsageError(problem, hint=allowed_text(settings.max_name_length))
    paths = layout.session_paths(settings, name)
    # The scan runs before the global lock (it takes only the session's own scan lock): a
    # session whose repositories hang a read must not hold up every other session's create or
    # delete. With -f a scan that fails is reported, never a reason not to delete.
    try:
        work = session_has_work(settings, runner, name)
    except HerodevError as exc:
        if not force:
            raise HerodevError(
                f"session {name} not deleted: its work could not be inspected ({exc.message})",
                hint=f"'herodev delete -f {name}' deletes it anyway",
            ) from None
        work = [f"not inspected ({exc.message})"]
    with exclusive_lock(settings.lock_file, purpose=f"delete {name}", on_wait=runner.say):
        has_meta = paths.meta.exists()
        user = _session_user(paths, has_meta)
        pieces = [p for p in (paths.snapshot, paths.base, paths.scan, paths.tmp) if p.exists()]
        if not (has_meta or user or pieces or paths.checkpoints.exists()):
            raise NotFound(f"no session named {name!r}", hint=_existing_hint(settings))
        # Its user, or (half deleted) the uid the metadata names while no other user has it.
        uid = user.uid if user else _orphan_uid(read_meta(paths) if has_meta else None)
        pids = limits_meta.session_processes(settings, name, uid)
        reasons = [f"{len(pids)} process(es) of {paths.user} are running"] if pids else []
        reasons += work
        if reasons and not force:
            raise HerodevError(
                f"session {name} not deleted: {'; '.join(reasons)}",
                hint=f"'herodev delete -f {name}' throws that away",
            )
        from herodev_shell.core import checkpoints

        held = checkpoints.ids_on_disk(paths)
        removed = [str(p) for p in pieces] + ([f"user {paths.user} and its home"] if user else [])
        if paths.checkpoints.exists():
            removed.append(f"{len(held)} checkpoint(s) in {paths.checkpoints}")
        if has_meta:
            removed.append(str(paths.meta))
        if runner.dry_run:
            runner.say(f"would remove {', '.join(removed)}")
            return DeleteReport(name, paths.user, len(pids), tuple(work), tuple(removed), True, tuple(held))
        killed = limits_meta.end_session_processes(settings, name, uid, runner) if pids else 0
        limits_meta.remove_session_group(settings, name)
        maybe_fail("delete:after-processes")
        # Checkpoints before the snapshot: a delete cut short still lists the session to retry.
        checkpoints.remove_all(paths, runner)
        maybe_fail("delete:after-checkpoints")
        # A subvolume whose quota group is at its limit cannot be deleted (EDQUOT): lift it first.
        quota_mode.release_session(settings, runner, name)
        # The private /tmp first: a delete cut short later leaves what repair knows (snapshot, base).
        steps = (("tmp", paths.tmp), ("scan", paths.scan), ("snapshot", paths.snapshot), ("base", paths.base))
        for step, piece in steps:
            if piece.exists():
                # subvolumes a session user (or podman) made inside would make a plain delete fail
                btrfs.delete_subvolume_tree(piece, runner)
            maybe_fail(f"delete:after-{step}")
        if user:
            users.delete_user(paths.user, runner)
            maybe_fail("delete:after-user")
        # The metadata goes last: a delete cut short still lists the session, to be retried.
        paths.meta.unlink(missing_ok=True)
        with contextlib.suppress(HerodevError, OSError):
            quota_mode.sweep_groups(settings, runner)  # groups of earlier deletes, cleaned by now
    return DeleteReport(name, paths.user, killed, tuple(work), tuple(removed), checkpoints=tuple(held))
