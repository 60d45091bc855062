"""Reading the mount table (/proc/self/mountinfo) without running a process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class Mount:
    target: str
    root: str  # the path inside the filesystem that is mounted (btrfs: the subvolume)
    fstype: str
    source: str
    options: str
    super_options: str


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 0 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[Mount]:
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        parts, tail = left.split(), right.split()
        if len(parts) < 6 or len(tail) < 3:
            continue
        mounts.append(
            Mount(
                target=_unescape(parts[4]),
                root=_unescape(parts[3]),
                fstype=tail[0],
                source=_unescape(tail[1]),
                options=parts[5],
                super_options=tail[2],
            )
        )
    return mounts


def read_mounts() -> list[Mount]:
    return parse_mountinfo(MOUNTINFO.read_text())


def mount_at(path: str | os.PathLike[str]) -> Mount | None:
    """The mount whose target is exactly path (the last one wins when mounts stack)."""
    target = os.path.realpath(path)
    found = None
    for mount in read_mounts():
        if mount.target == target:
            found = mount
    return found


def mount_containing(path: str | os.PathLike[str]) -> Mount | None:
    """The mount that holds path: the longest target that is a prefix of it."""
    target = os.path.realpath(path)
    best: Mount | None = None
    for mount in read_mounts():
        prefix = mount.target.rstrip("/") + "/"
        if (target == mount.target or target.startswith(prefix) or mount.target == "/") and (
            best is None or len(mount.target) >= len(best.target)
        ):
            best = mount
    return best


def is_mountpoint(path: str | os.PathLike[str]) -> bool:
    return mount_at(path) is not None
