"""Session users: useradd / userdel / lookup, and the processes a user is running.

Lookups read the passwd database once (pwd.getpwall) and /proc once, so listing hundreds of
sessions costs no process per session.
"""

from __future__ import annotations

import os
import pwd
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.system.runner import Runner

# useradd's comment (GECOS) for herodev's users: tells a session user from anyone else's.
COMMENT_PREFIX = "herodev session"
PROC = Path("/proc")


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


def all_users() -> dict[str, User]:
    return {entry.pw_name: _from_pwd(entry) for entry in pwd.getpwall()}


def users_with_prefix(prefix: str) -> list[User]:
    return sorted((u for u in all_users().values() if u.name.startswith(prefix)), key=lambda u: u.name)


def create_user(name: str, comment: str, runner: Runner) -> None:
    """A login user with a home directory and bash, and a group of its own."""
    runner.run(
        ["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", "--comment", comment, name],
        hint="is the name free and /etc/passwd writable?",
    )


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
    return found


def processes_of(uid: int) -> list[int]:
    return sorted(processes_by_uid().get(uid, []))


def kill_processes_of(uid: int, runner: Runner, attempts: int = 50) -> int:
    """SIGKILL every process of uid until none is left (a dying shell may fork once more)."""
    if uid == 0:
        raise ValueError("refusing to kill root's processes")
    killed: set[int] = set()
    for _ in range(attempts):
        pids = processes_of(uid)
        if not pids:
            break
        if runner.dry_run:
            runner.say(f"would kill {len(pids)} process(es) of uid {uid}")
            return len(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return len(killed)
