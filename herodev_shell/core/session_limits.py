"""`limit NAME`: a session's new limits, in its metadata and on its running processes."""

from __future__ import annotations

from herodev_shell.core import layout
from herodev_shell.core.limits import META_KEY, LimitReport, from_meta, hierarchy, parse_limits, session_group, to_meta
from herodev_shell.core.meta import read_meta, write_meta
from herodev_shell.core.settings import Settings
from herodev_shell.errors import NotFound
from herodev_shell.system import cgroups
from herodev_shell.system.locking import exclusive_lock


def set_session_limits(
    settings: Settings,
    name: str,
    memory: str | None,
    cpus: str | None,
    tasks: str | None,
    dry_run: bool = False,
) -> LimitReport:
    """New limits in the metadata and, when the group exists, on the running processes."""
    paths = layout.session_paths(settings, name)
    with exclusive_lock(settings.lock_file):
        meta = read_meta(paths)
        if not meta:
            raise NotFound(f"no session named {name!r}", hint="'herodev list' shows the sessions")
        limits = parse_limits(memory, cpus, tasks, base=from_meta(meta))
        if dry_run:
            return LimitReport(name, limits, applied=False, planned=True)
        group = session_group(settings, name) if hierarchy().usable else None
        applied = group is not None and group.exists()
        if applied:
            assert group is not None
            cgroups.set_limits(group, limits)  # first: a refused limit leaves the metadata as it was
        write_meta(paths, {**meta, META_KEY: to_meta(limits)})
    return LimitReport(name, limits, applied=applied)
