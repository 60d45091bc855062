"""Resource limits per session: memory, CPUs and tasks, kept in the session's metadata.

The metadata is the truth; the cgroup is made (or mended) from it each time a process of the
session starts (enter, exec, setup hooks), so a reboot that empties /sys/fs/cgroup loses
nothing. `limit` changes the metadata and the live group at once: running processes feel
the new limits immediately. The fleet group (settings.cgroup) holds every session's group
and has limits of its own (`limit --fleet`), kept in <sessions dir>/herodev-fleet.json.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core.settings import Settings, parse_count, parse_cpus, parse_size
from herodev_shell.errors import HerodevError
from herodev_shell.system import cgroups
from herodev_shell.system.cgroups import Limits, Usage
from herodev_shell.system.fsops import atomic_write_text

META_KEY = "limits"
UNLIMITED = ("none", "max", "unlimited")


@dataclass(frozen=True)
class LimitReport:
    name: str  # a session, or "" for the fleet
    limits: Limits
    applied: bool  # the live group was changed too (False: it did not exist; next start makes it)
    planned: bool = False


@functools.cache
def hierarchy() -> cgroups.Hierarchy:
    return cgroups.detect()


# --- parsing and storing ----------------------------------------------------------------------


def parse_limits(memory: str | None, cpus: str | None, tasks: str | None, base: Limits | None = None) -> Limits:
    """Limits from option text over base; None keeps base's value, 'none' lifts the limit."""
    base = base or Limits()

    def pick(text: str | None, current: object, parse: object) -> object:
        if text is None:
            return current
        if text.strip().lower() in UNLIMITED:
            return None
        return parse(text)  # type: ignore[operator]

    return Limits(
        memory=pick(memory, base.memory, parse_size),  # type: ignore[arg-type]
        cpus=pick(cpus, base.cpus, parse_cpus),  # type: ignore[arg-type]
        tasks=pick(tasks, base.tasks, parse_count),  # type: ignore[arg-type]
    )


def default_limits(settings: Settings) -> Limits:
    """A new session's limits: HERODEV_MEMORY, HERODEV_CPUS, HERODEV_TASKS (empty: none)."""
    return parse_limits(settings.memory or None, settings.cpus or None, settings.tasks or None)


def to_meta(limits: Limits) -> dict[str, object]:
    return {"memory": limits.memory, "cpus": limits.cpus, "tasks": limits.tasks}


def from_meta(meta: dict[str, object] | None) -> Limits:
    raw = (meta or {}).get(META_KEY)
    if not isinstance(raw, dict):
        return Limits()
    memory, cpus, tasks = raw.get("memory"), raw.get("cpus"), raw.get("tasks")
    return Limits(
        memory=memory if isinstance(memory, int) and memory > 0 else None,
        cpus=float(cpus) if isinstance(cpus, int | float) and cpus > 0 else None,
        tasks=tasks if isinstance(tasks, int) and tasks > 0 else None,
    )


def _fleet_file(settings: Settings) -> Path:
    return settings.sessions_dir / "herodev-fleet.json"


def fleet_limits(settings: Settings) -> Limits:
    try:
        data = json.loads(_fleet_file(settings).read_text())
    except (OSError, ValueError):
        return Limits()
    return from_meta(data if isinstance(data, dict) else None)


# --- groups ----------------------------------------------------------------------------------


def session_group(settings: Settings, name: str) -> cgroups.Group:
    return cgroups.session_group(hierarchy(), settings.cgroup, settings.user_for(name))


def fleet_group(settings: Settings) -> cgroups.Group:
    return cgroups.fleet_group(hierarchy(), settings.cgroup)


def prepare_group(settings: Settings, name: str, limits: Limits) -> tuple[str, ...]:
    """Make the fleet's and the session's groups with their limits; the cgroup.procs files a
    child writes "0" into to join. Empty (no group) only when the host has no controllers and
    the session asks for no limit: a limit that cannot be enforced is an error, never ignored."""
    if not hierarchy().usable:
        if limits != Limits():
            raise HerodevError(
                "this host has no cgroup controllers mounted, so the session's limits cannot be enforced",
                hint="mount cgroup v2 (or the v1 memory, cpu, pids and freezer controllers), or lift the limits",
            )
        return ()
    from herodev_shell.system import users

    cgroups.ensure(fleet_group(settings), fleet_limits(settings))
    user = users.lookup(settings.user_for(name))
    gid = user.gid if user is not None and user.uid != 0 else 0
    return cgroups.ensure(session_group(settings, name), limits, mode=0o750, gid=gid).procs_files()


def session_procs_files(settings: Settings, name: str, meta: dict[str, object] | None) -> tuple[str, ...]:
    """prepare_group with the limits recorded for the session."""
    return prepare_group(settings, name, from_meta(meta))


def usage(settings: Settings, name: str) -> Usage:
    if not hierarchy().usable:
        return Usage()
    return cgroups.usage(session_group(settings, name))


def group_members(settings: Settings, name: str) -> list[int]:
    if not hierarchy().usable:
        return []
    return cgroups.members(session_group(settings, name))


def kill_session_processes(settings: Settings, name: str) -> int:
    """SIGKILL every process in the session's group (for delete; no-op without a group)."""
    if not hierarchy().usable:
        return 0
    return cgroups.kill_all(session_group(settings, name))


def session_processes(settings: Settings, name: str, uid: int | None) -> list[int]:
    """Every process of the session: its cgroup's members and whatever runs as its ids."""
    from herodev_shell.system import users

    return sorted(set(users.processes_of(uid) if uid else []) | set(group_members(settings, name)))


def end_session_processes(settings: Settings, name: str, uid: int | None, runner: object) -> int:
    """Kill them all: the cgroup first (frozen, nothing in it can fork away from the kill,
    whatever uid it runs as), then anything of the session's ids outside it. How many."""
    from herodev_shell.system import users

    in_group = kill_session_processes(settings, name)
    by_ids = users.kill_processes_of(uid, runner) if uid else 0  # type: ignore[arg-type]
    return max(in_group, by_ids)  # mostly the same processes: counted once


def stale_groups(settings: Settings) -> list[str]:
    """Names of sessions whose cgroup is there while the session is not (a delete cut short)."""
    if not hierarchy().usable:
        return []
    from herodev_shell.core import layout

    found: set[str] = set()
    prefix = settings.user_prefix
    for _, directory in fleet_group(settings).dirs():
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name.startswith(prefix) and len(entry.name) > len(prefix):
                found.add(entry.name[len(prefix) :])
    stale = []
    for name in sorted(found):
        paths = layout.session_paths(settings, name)
        if not paths.meta.exists() and not paths.snapshot.exists() and cgroups.NAME_RE.match(paths.user):
            stale.append(name)
    return stale


def remove_session_group(settings: Settings, name: str) -> None:
    if hierarchy().usable:
        cgroups.remove(session_group(settings, name))


# --- changing limits -------------------------------------------------------------------------


def set_fleet_limits(
    settings: Settings, memory: str | None, cpus: str | None, tasks: str | None, dry_run: bool = False
) -> LimitReport:
    """The cap on all sessions together (the parent group)."""
    from herodev_shell.system.locking import exclusive_lock

    if not settings.sessions_dir.is_dir():
        raise HerodevError(f"{settings.sessions_dir} does not exist", hint="run 'herodev init' first")
    with exclusive_lock(settings.lock_file):
        limits = parse_limits(memory, cpus, tasks, base=fleet_limits(settings))
        if dry_run:
            return LimitReport("", limits, applied=False, planned=True)
        applied = hierarchy().usable
        if applied:
            cgroups.ensure(fleet_group(settings), limits)
        target = _fleet_file(settings)
        atomic_write_text(target, json.dumps(to_meta(limits)) + "\n")
    return LimitReport("", limits, applied=applied)
