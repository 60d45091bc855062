"""Subordinate uid/gid ranges (/etc/subuid, /etc/subgid) so session users can run rootless podman.

Debian's useradd hands out a range by itself when /etc/subuid exists; where it did not (the
files were missing, or SUB_UID_COUNT is 0) herodev assigns a free, non-overlapping range with
usermod. userdel removes a user's ranges; `remove` is there for users made elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herodev_shell.system.locking import exclusive_lock
from herodev_shell.system.runner import Runner

SUBUID = Path("/etc/subuid")
# Machine-wide, not per code root: two herodev instances (or test worlds) with their own code
# roots share /etc/subuid, and a read-then-usermod by each handed both users the same range.
LOCK = Path("/run/lock/herodev-subids.lock")
SUBGID = Path("/etc/subgid")
RANGE_SIZE = 65536
FIRST = 100000  # login.defs' SUB_UID_MIN default


@dataclass(frozen=True)
class IdRange:
    owner: str
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count - 1


def parse(text: str) -> list[IdRange]:
    ranges = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            ranges.append(IdRange(fields[0], int(fields[1]), int(fields[2])))
    return ranges


def read(path: Path) -> list[IdRange]:
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        return []


def ranges_of(user: str, uid: int, path: Path) -> list[IdRange]:
    return [r for r in read(path) if r.owner in (user, str(uid))]


def free_start(taken: list[IdRange], size: int = RANGE_SIZE, first: int = FIRST) -> int:
    """The lowest start >= first where size ids overlap no taken range."""
    start = first
    for r in sorted(taken, key=lambda r: r.start):
        if r.end < start:
            continue
        if r.start >= start + size:
            break
        start = r.end + 1
    return start


def ensure(
    user: str, uid: int, runner: Runner, held: tuple[set[int], set[int]] = (set(), set())
) -> tuple[IdRange, IdRange]:
    """The user's subuid and subgid ranges, assigning free ones when it has none.

    held: the uids and gids live processes hold; a new range never covers one of them (a
    process of a deleted session, in a user namespace, would otherwise own the new session's files).
    """
    found = []
    with exclusive_lock(LOCK, purpose="subordinate ids"):
        for (path, flag), in_use in zip(((SUBUID, "--add-subuids"), (SUBGID, "--add-subgids")), held, strict=True):
            mine = ranges_of(user, uid, path)
            if not mine:
                busy = [IdRange("", i, 1) for i in in_use if i >= FIRST]
                start = free_start(read(path) + busy)
                runner.run(["usermod", flag, f"{start}-{start + RANGE_SIZE - 1}", user])
                mine = [IdRange(user, start, RANGE_SIZE)]
            found.append(mine[0])
    return found[0], found[1]


def remove(user: str, uid: int, runner: Runner) -> None:
    """Give the user's ranges back (userdel does this too; harmless when already gone)."""
    for path, flag in ((SUBUID, "--del-subuids"), (SUBGID, "--del-subgids")):
        for r in ranges_of(user, uid, path):
            runner.run(["usermod", flag, f"{r.start}-{r.end}", user], check=False)
