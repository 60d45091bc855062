"""Session users: useradd / userdel / lookup, and the processes a user is running.

Lookups read the passwd database once (pwd.getpwall) and /proc once, so listing hundreds of
sessions costs no process per session.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.errors import HerodevError
from herodev_shell.system import procs, subids
from herodev_shell.system.runner import Runner

# useradd's comment (GECOS) for herodev's users: tells a session user from anyone else's.
COMMENT_PREFIX = "herodev session"
PROC = Path("/proc")
UID_MIN, UID_MAX = 1000, 60000  # login.defs defaults


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    home: str
    shell: str
    comment: str

    @property
    def is_session_user(self) -> bool:
        return self.comment.startswith(COMMENT_PREFIX)


def _from_pwd(entry: pwd.struct_passwd) -> User:
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell, entry.pw_gecos)


def lookup(name: str) -> User | None:
    try:
        return _from_pwd(pwd.getpwnam(name))
    except KeyError:
        return None


def name_of_uid(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def all_users() -> dict[str, User]:
    return {entry.pw_name: _from_pwd(entry) for entry in pwd.getpwall()}


def users_with_prefix(prefix: str) -> list[User]:
    return sorted((u for u in all_users().values() if u.name.startswith(prefix)), key=lambda u: u.name)


def create_user(name: str, comment: str, runner: Runner, held: tuple[set[int], set[int]] | None = None) -> None:
    """A login user with a home directory (0700) and bash, and a group of its own.

    held (the ids live processes hold, procs.held_ids): the user gets a uid no process holds
    (free_uid), and no subordinate ranges from useradd, which would hand out the lowest free
    range even while a process uses it; subids.ensure assigns them.
    """
    argv = ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", "--comment", comment]
    argv += ["-K", "HOME_MODE=0700"]  # sessions do not see each other's homes
    if held is None:
        runner.run([*argv, name], hint="is the name free and /etc/passwd writable?")
        return
    argv += ["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"]
    for _ in range(5):  # another useradd may take the uid between our look and ours
        uid = free_uid(*held)
        result = runner.run([*argv, "--uid", str(uid), name], check=False)
        if result.ok or runner.dry_run:
            return
        if "not unique" not in result.stderr:
            break
    runner.run([*argv, "--uid", str(free_uid(*held)), name], hint="is the name free and /etc/passwd writable?")


def free_uid(held_uids: set[int], held_gids: set[int], first: int = UID_MIN, last: int = UID_MAX) -> int:
    """A uid (and the same gid) no user, group or live process holds: never one a survivor of a
    deleted session still runs as. After the highest one in use, like useradd; else the lowest."""
    taken = {u.uid for u in all_users().values()} | held_uids
    taken_gids = {g.gr_gid for g in grp.getgrall()} | held_gids
    in_range = [i for i in taken if first <= i <= last and i not in held_uids]
    for start in (max(in_range, default=first - 1) + 1, first):
        for candidate in range(start, last + 1):
            if candidate not in taken and candidate not in taken_gids:
                return candidate
    raise HerodevError(f"no free uid between {first} and {last}")


def delete_user(name: str, runner: Runner) -> None:
    """userdel with its home; -f because the caller has already ended its processes."""
    if lookup(name) is None:
        return
    result = runner.run(["userdel", "--remove", "--force", name], check=False)
    # 12: the home could not be removed (already gone is fine); anything else is a failure.
    if result.returncode not in (0, 12) and lookup(name) is not None:
        runner.run(["userdel", "--force", name])


def processes_by_uid() -> dict[int, list[int]]:
    """uid -> pids, for every uid a process runs as (real, effective or saved): one /proc pass."""
    found: dict[int, list[int]] = {}
    try:
        entries = os.scandir(PROC)
    except OSError:
        return found
    with entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/status", "rb") as handle:
                    status = handle.read()
            except OSError:
                continue  # gone, or not ours to read
            start = status.find(b"\nUid:")
            if start < 0:
                continue
            line = status[start + 5 : status.find(b"\n", start + 1)]
            for uid in {int(field) for field in line.split()[:3]}:
                found.setdefault(uid, []).append(int(entry.name))
    return _fold_subordinates(found)


def _fold_subordinates(found: dict[int, list[int]]) -> dict[int, list[int]]:
    """A process running as a user's subordinate uid (unshare --map-auto, podman) counts as
    that user's too: a session with only such processes is still running something."""
    ranges = [r for r in subids.read(subids.SUBUID) if r.count > 0]
    if not ranges or not any(uid >= subids.FIRST for uid in found):
        return found
    owners = {u.name: u.uid for u in all_users().values()}
    for uid in [u for u in found if u >= subids.FIRST]:
        for r in ranges:
            owner = owners.get(r.owner) if not r.owner.isdigit() else int(r.owner)
            if owner and r.start <= uid <= r.end and owner != uid:
                merged = set(found.get(owner, [])) | set(found[uid])
                found[owner] = sorted(merged)
    return found


def session_ids(uid: int) -> procs.SessionIds:
    """The uid and gid of the user with this uid, and its subordinate ranges (while it has them)."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return procs.SessionIds(uids=((uid, 1),), gids=())
    uids = [(uid, 1)] + [(r.start, r.count) for r in subids.ranges_of(entry.pw_name, uid, subids.SUBUID)]
    gids = [(entry.pw_gid, 1)] if entry.pw_gid else []
    gids += [(r.start, r.count) for r in subids.ranges_of(entry.pw_name, uid, subids.SUBGID)]
    return procs.SessionIds(uids=tuple(uids), gids=tuple(gids))


def processes_of(uid: int) -> list[int]:
    """Every process of the user: as its uid or gid, or any of its subordinate ids (user namespaces)."""
    return procs.processes_of(session_ids(uid))


def kill_processes_of(uid: int, runner: Runner) -> int:
    """Freeze and kill every process of the user (subordinate ids included) until none is left."""
    if uid == 0:
        raise ValueError("refusing to kill root's processes")
    ids = session_ids(uid)
    if runner.dry_run:
        pids = procs.processes_of(ids)
        runner.say(f"would kill {len(pids)} process(es) of uid {uid} and its subordinate ids")
        return len(pids)
    killed, left = procs.kill_all(ids)
    if left:
        raise HerodevError(
            f"{len(left)} process(es) of uid {uid} survived SIGKILL: {' '.join(map(str, left[:10]))}",
            hint="they may be stuck in the kernel (D state); try again later",
        )
    return killed
