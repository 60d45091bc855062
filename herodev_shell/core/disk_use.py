"""Disk usage: what each session costs (btrfs exclusive bytes) and df-style totals.

With quotas on, the figures come from sysfs and the root tree (no process per session, so
listing many sessions stays cheap). With quotas off they are unknown (None) in listings, never
made up, and `df` measures them on demand by walking each session (slower, and it says so).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.core import quota_mode
from herodev_shell.core.layout import session_names, session_paths
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError
from herodev_shell.system import btrfs, quotas
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info

_UNITS = ("B", "K", "M", "G", "T", "P")


def human_size(value: int | None) -> str:
    """1536 -> '1.5K'; None -> '-' (unknown)."""
    if value is None:
        return "-"
    size = float(value)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{value}B"


@dataclass(frozen=True)
class SessionUsage:
    name: str
    user: str
    exclusive: int | None  # bytes only this session holds, nested subvolumes included
    referenced: int | None  # bytes it can see (under full quotas: shared with the code root too)
    limit: int | None  # its exclusive-bytes quota, None for none
    checkpoints: int | None = None  # bytes only its checkpoints hold (counted in exclusive too)
    nested: int = 0  # subvolumes made inside the session (counted in exclusive)
    measured: bool = False  # quotas off: exclusive was measured by walking the session (df only)


@dataclass(frozen=True)
class DiskReport:
    code_root: str
    size: int
    used: int
    free: int
    quotas: bool
    sessions: list[SessionUsage]
    sessions_exclusive: int | None  # sum of the sessions' exclusive bytes
    mode: str = "off"  # simple | full | off


def session_usage(settings: Settings, runner: Runner, names: list[str] | None = None) -> dict[str, SessionUsage]:
    """name -> usage for every (or the named) session: sysfs and root-tree ioctls, no process
    (quota_mode.session_figures). Unknown (None) with quotas off."""
    names = session_names(settings) if names is None else names
    root = settings.code_root
    mode = quotas.mode(root) if root.exists() else quotas.OFF
    found = {}
    for name in names:
        paths = session_paths(settings, name)
        subvolume = quota_mode.session_subvolume(settings, name) if mode != quotas.OFF else None
        figures = quota_mode.session_figures(root, mode, subvolume)
        # Checkpoints go when the session goes: what they alone hold is part of its cost.
        held = _checkpoint_bytes(root, paths.checkpoints) if figures.exclusive is not None else None
        found[name] = SessionUsage(
            name=name,
            user=paths.user,
            # simple quotas: checkpoints are members of the session's group, counted already
            exclusive=figures.exclusive + ((held or 0) if mode != quotas.SIMPLE else 0)
            if figures.exclusive is not None
            else None,
            referenced=figures.referenced,
            limit=figures.limit,
            checkpoints=held,
            nested=figures.nested,
        )
    return found


def _checkpoint_bytes(root: Path, directory: Path) -> int:
    """Exclusive bytes of the checkpoints (numbered subvolumes in directory), by ioctl and sysfs."""
    total = 0
    try:
        entries = [e for e in os.scandir(directory) if e.name.isdigit()]
    except OSError:
        return 0
    for entry in entries:
        try:
            found = quotas.usage(root, 0, subvolume_info(Path(entry.path)).treeid)
        except OSError:
            continue
        total += found.exclusive if found else 0
    return total


def disk_report(settings: Settings, runner: Runner, measure: bool = True) -> DiskReport:
    """df. With quotas off each session is measured on demand (`btrfs filesystem du`, a walk
    of its tree: seconds on a large one) unless measure is False."""
    total, free = btrfs.space(settings.code_root)
    mode = quotas.mode(settings.code_root)
    usages = list(session_usage(settings, runner).values())
    if mode == quotas.OFF and measure:
        usages = [_measured(settings, runner, u) for u in usages]
    known = [u.exclusive for u in usages if u.exclusive is not None]
    return DiskReport(
        code_root=str(settings.code_root),
        size=total,
        used=total - free,
        free=free,
        quotas=mode != quotas.OFF,
        sessions=usages,
        sessions_exclusive=sum(known) if known or not usages else None,
        mode=mode,
    )


def _measured(settings: Settings, runner: Runner, usage: SessionUsage) -> SessionUsage:
    from dataclasses import replace

    from herodev_shell.core import session_sandbox

    live = session_paths(settings, usage.name).snapshot
    try:
        # as the session user, over a nosymfollow view of its tree, under the read deadline
        exclusive = session_sandbox.read(
            settings, usage.name, [live], lambda: quotas.measure_exclusive(live, runner), int
        )
    except (HerodevError, OSError):
        return usage
    return replace(usage, exclusive=exclusive, measured=True)
