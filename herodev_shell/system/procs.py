"""A session's processes, found by every id they may run as, and ended for good.

A session's code runs as its user, but also as any of its subordinate ids (`unshare
--map-auto`, `podman unshare`, rootless containers). So a process belongs to the session when
any of its four uids (real, effective, saved, filesystem) or four gids lies in the session's
uid or gid ranges: read from /proc/PID/status, which a process cannot forge.

Ending them: stop every one (SIGSTOP: a stopped process cannot fork), scan again until no new
one appears, then SIGKILL them all, and loop until a scan finds none. Zombies are skipped:
they run nothing and their parent (or init) reaps them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass

IdRanges = tuple[tuple[int, int], ...]  # (first, count)


@dataclass(frozen=True)
class SessionIds:
    """Every id a session's processes may hold. Never contains 0."""

    uids: IdRanges
    gids: IdRanges

    def __post_init__(self) -> None:
        for first, count in (*self.uids, *self.gids):
            if first <= 0 or count <= 0:
                raise ValueError(f"refusing an id range that holds root or nothing: {first}+{count}")

    def holds(self, uids: Iterable[int], gids: Iterable[int]) -> bool:
        return _inside(uids, self.uids) or _inside(gids, self.gids)


def _inside(ids: Iterable[int], ranges: IdRanges) -> bool:
    return any(first <= i < first + count for i in ids for first, count in ranges)


def _fields(status: bytes, key: bytes) -> list[int]:
    start = status.find(b"\n" + key)
    if start < 0:
        return []
    end = status.find(b"\n", start + 1)
    return [int(f) for f in status[start + len(key) + 1 : end if end > 0 else None].split()]


def processes_of(ids: SessionIds) -> list[int]:
    """Pids of live (non-zombie) processes holding any of the session's ids; one /proc pass."""
    found: list[int] = []
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                status = handle.read()
        except OSError:
            continue  # gone
        state = status.find(b"\nState:")
        if state >= 0 and status[state + 7 : state + 12].strip().startswith(b"Z"):
            continue
        if ids.holds(_fields(status, b"Uid:"), _fields(status, b"Gid:")):
            found.append(int(name))
    return sorted(found)


def _signal_all(pids: Iterable[int], signum: int) -> set[int]:
    hit = set()
    for pid in pids:
        try:
            os.kill(pid, signum)
            hit.add(pid)
        except ProcessLookupError:
            pass
    return hit


def kill_all(ids: SessionIds, deadline: float = 10.0) -> tuple[int, list[int]]:
    """Freeze and kill until none is left: (how many were killed, the pids still there at the deadline)."""
    killed: set[int] = set()
    end = time.monotonic() + deadline
    while True:
        pids = processes_of(ids)
        if not pids or time.monotonic() > end:
            return len(killed), pids
        stopped: set[int] = set()
        while True:  # until a scan finds no process we have not stopped (forks in between)
            fresh = [p for p in pids if p not in stopped]
            if not fresh:
                break
            stopped |= _signal_all(fresh, signal.SIGSTOP)
            pids = processes_of(ids)
        killed |= _signal_all(stopped, signal.SIGKILL)
        time.sleep(0.02)


def held_ids() -> tuple[set[int], set[int]]:
    """Every uid and every gid some live process holds (any of the four): one /proc pass."""
    uids: set[int] = set()
    gids: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as handle:
                status = handle.read()
        except OSError:
            continue
        uids.update(_fields(status, b"Uid:"))
        gids.update(_fields(status, b"Gid:"))
    return uids, gids
