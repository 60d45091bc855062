"""Disk usage: what each session costs (btrfs exclusive bytes) and df-style totals.

One `btrfs qgroup show` answers for every session at once, so listing many sessions stays
one process. Without quotas enabled the numbers are unknown (None), never made up.
"""

from __future__ import annotations

from dataclasses import dataclass

from herodev_shell.core.layout import session_names, session_paths
from herodev_shell.core.settings import Settings
from herodev_shell.system import btrfs
from herodev_shell.system.runner import Runner

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
    exclusive: int | None  # bytes only this session holds (what deleting it frees)
    referenced: int | None  # bytes it can see, shared with the code root included
    limit: int | None  # its exclusive-bytes quota, None for none
    checkpoints: int | None = None  # bytes only its checkpoints hold (counted in exclusive too)


@dataclass(frozen=True)
class DiskReport:
    code_root: str
    size: int
    used: int
    free: int
    quotas: bool
    sessions: list[SessionUsage]
    sessions_exclusive: int | None  # sum of the sessions' exclusive bytes


def session_usage(settings: Settings, runner: Runner, names: list[str] | None = None) -> dict[str, SessionUsage]:
    """name -> usage for every (or the named) session, from one qgroup listing."""
    names = session_names(settings) if names is None else names
    groups = btrfs.qgroups(settings.code_root, runner) if settings.code_root.exists() else None
    by_path = {g.path: g for g in groups or []}
    sessions_path = btrfs.filesystem_path(settings.sessions_dir)
    found = {}
    for name in names:
        paths = session_paths(settings, name)
        group = by_path.get(f"{sessions_path}/{paths.user}")
        # Checkpoints go when the session goes: what they alone hold is part of its cost.
        held = [g.exclusive for p, g in by_path.items() if _is_checkpoint(p, sessions_path, paths.checkpoints.name)]
        extra = sum(held) if group else None
        found[name] = SessionUsage(
            name=name,
            user=paths.user,
            exclusive=group.exclusive + sum(held) if group else None,
            referenced=group.referenced if group else None,
            limit=group.max_exclusive if group else None,
            checkpoints=extra,
        )
    return found


def _is_checkpoint(path: str, sessions_path: str, directory: str) -> bool:
    head, _, ident = path.rpartition("/")
    return head == f"{sessions_path}/{directory}" and ident.isdigit()


def disk_report(settings: Settings, runner: Runner) -> DiskReport:
    total, free = btrfs.space(settings.code_root)
    usages = list(session_usage(settings, runner).values())
    quotas = btrfs.quota_enabled(settings.code_root, runner)
    known = [u.exclusive for u in usages if u.exclusive is not None]
    return DiskReport(
        code_root=str(settings.code_root),
        size=total,
        used=total - free,
        free=free,
        quotas=quotas,
        sessions=usages,
        sessions_exclusive=sum(known) if quotas else None,
    )
