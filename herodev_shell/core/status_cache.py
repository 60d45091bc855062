"""The base status of each repository, computed once per base and kept for later scans.

A base is a read-only snapshot: its status never changes, so it is keyed by the base's
subvolume id and generation (ids are never reused by btrfs; a base rebuilt by repair gets a
new id). The files live in `<sessions dir>/.status-cache/`, root's and out of every session's
view (the sandbox covers the code root), and they are JSON: plain data, whoever wrote it.
Each base status is computed in a sandbox that sees the base alone, never session content,
so what is cached came from the code root as it was, not from anything a session wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path

from herodev_shell.core.settings import Settings
from herodev_shell.system.fsops import atomic_write_text
from herodev_shell.system.gitstatus import BaseStatus
from herodev_shell.system.subvolinfo import subvolume_info

DIR_NAME = ".status-cache"
SUFFIX = ".v4.json"  # the layout of BaseStatus; files of another layout are dropped


def _file(settings: Settings, base: Path) -> Path | None:
    try:
        info = subvolume_info(base)
    except OSError:
        return None
    return settings.sessions_dir / DIR_NAME / f"{info.treeid}-{info.generation}{SUFFIX}"


def _decode(raw: object) -> BaseStatus | None:
    from herodev_shell.system.sandbox import BadAnswer, decode

    try:
        return decode(BaseStatus, raw)  # type: ignore[no-any-return]
    except BadAnswer:
        return None


def load(settings: Settings, base: Path) -> dict[str, BaseStatus]:
    """repository path -> its base status, for those computed before; {} when none."""
    path = _file(settings, base)
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    found = {}
    for relative, raw in data.items() if isinstance(data, dict) else []:
        status = _decode(raw)
        if status is not None:
            found[relative] = status
    return found


def store(settings: Settings, base: Path, fresh: dict[str, BaseStatus]) -> None:
    """Add fresh base statuses to the base's file (atomic replace). Files of bases that are gone
    are removed on the way. A cache that cannot be written only costs the next scan time."""
    path = _file(settings, base)
    if path is None or not fresh:
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(mode=0o700, exist_ok=True)
        known = load(settings, base)
        known.update(fresh)
        data = {r: dataclasses.asdict(s) for r, s in known.items()}
        atomic_write_text(path, json.dumps(data), mode=0o600)
        _sweep(settings, path.parent)


def _sweep(settings: Settings, directory: Path) -> None:
    """Drop the files of bases that no longer exist (their session was deleted)."""
    from herodev_shell.core import layout

    alive = set()
    for name in layout.session_names(settings):
        with contextlib.suppress(OSError):
            info = subvolume_info(layout.session_paths(settings, name).base)
            alive.add(f"{info.treeid}-{info.generation}{SUFFIX}")
    for entry in os.scandir(directory):
        if entry.name.endswith(".json") and entry.name not in alive:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
