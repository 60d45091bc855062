"""btrfs quota modes and quota groups, by ioctl and sysfs where progs 6.2 cannot (or is slow).

Three modes: `simple` (squota, kernel 6.7+: an extent is charged to the subvolume that wrote
it, at no accounting cost), `full` (classic qgroups: exact shared/exclusive figures, but every
snapshot deletion is accounted at the next commit, which slows every later snapshot), `off`.
btrfs-progs 6.2 cannot enable simple quotas; BTRFS_IOC_QUOTA_CTL with command 4 can.

A session's quota group is a level-1 group `1/<session subvolume id>` with the session's
subvolume as member. Under simple quotas a subvolume made inside the session joins that group
by itself (the kernel's auto-inherit), so its limit and figures cover nested subvolumes too.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.system.runner import Runner

SIMPLE, FULL, OFF = "simple", "full", "off"
MODES = (SIMPLE, FULL, OFF)

_QUOTA_ENABLE, _QUOTA_DISABLE, _QUOTA_ENABLE_SIMPLE = 1, 2, 4
_SYSFS = Path("/sys/fs/btrfs")


def _ioc(direction: int, number: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (0x94 << 8) | number


class _QuotaCtlArgs(ctypes.Structure):
    _fields_ = [("cmd", ctypes.c_uint64), ("status", ctypes.c_uint64)]


_IOC_QUOTA_CTL = _ioc(3, 40, ctypes.sizeof(_QuotaCtlArgs))
_IOC_FS_INFO = _ioc(2, 31, 1024)
_IOC_TREE_SEARCH = _ioc(3, 17, 4096)
_ROOT_TREE, _ROOT_REF_KEY = 1, 156


def kernel_has_simple_quotas() -> bool:
    return (_SYSFS / "features" / "simple_quota").exists()


def default_mode() -> str:
    """simple where the kernel has it, else off (full costs every snapshot: never by default)."""
    return SIMPLE if kernel_has_simple_quotas() else OFF


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def _quota_ctl(root: Path, command: int) -> None:
    fd = _open_dir(root)
    try:
        fcntl.ioctl(fd, _IOC_QUOTA_CTL, _QuotaCtlArgs(command, 0))
    finally:
        os.close(fd)


def fsid(path: Path) -> str:
    """The filesystem's uuid, as its /sys/fs/btrfs directory is named."""
    fd = _open_dir(path)
    try:
        buf = bytearray(1024)
        fcntl.ioctl(fd, _IOC_FS_INFO, buf)
    finally:
        os.close(fd)
    return str(uuid.UUID(bytes=bytes(buf[16:32])))


def _qgroups_dir(path: Path) -> Path:
    return _SYSFS / fsid(path) / "qgroups"


def mode(path: Path) -> str:
    """simple, full or off, from sysfs (no process). Kernels before 6.7 have no `mode` file:
    quotas there can only be full."""
    try:
        where = _qgroups_dir(path)
    except OSError:
        return OFF
    if not where.is_dir():
        return OFF
    try:
        text = (where / "mode").read_text().strip()
    except OSError:
        return FULL
    return SIMPLE if text == "squota" else FULL


def switch(path: Path, wanted: str, runner: Runner) -> None:
    """Turn quotas to `wanted`. Leaving a mode drops every quota group (limits included)."""
    current = mode(path)
    if current == wanted:
        return
    runner.say(f"quotas on {path}: {current} -> {wanted}")
    if runner.dry_run:
        return
    if current != OFF:
        _quota_ctl(path, _QUOTA_DISABLE)
    if wanted == SIMPLE:
        _quota_ctl(path, _QUOTA_ENABLE_SIMPLE)
    elif wanted == FULL:
        _quota_ctl(path, _QUOTA_ENABLE)  # the kernel starts a rescan of everything that exists


@dataclass(frozen=True)
class Usage:
    referenced: int
    exclusive: int
    limit: int | None  # max exclusive (or referenced, the same under simple quotas); None: none


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def usage(path: Path, level: int, ident: int) -> Usage | None:
    """One quota group's figures from sysfs (no process); None when it does not exist."""
    try:
        group = _qgroups_dir(path) / f"{level}_{ident}"
        flags = _read_int(group / "limit_flags")
        limit = None
        if flags & 2:
            limit = _read_int(group / "max_exclusive")
        elif flags & 1:
            limit = _read_int(group / "max_referenced")
        return Usage(_read_int(group / "referenced"), _read_int(group / "exclusive"), limit)
    except (OSError, ValueError):
        return None


def level1_groups(path: Path) -> list[int]:
    """Ids N of every level-1 group 1/N (ours: one per session)."""
    try:
        names = os.listdir(_qgroups_dir(path))
    except OSError:
        return []
    return [int(n[2:]) for n in names if n.startswith("1_") and n[2:].isdigit()]


def child_subvolumes(path: Path, parent: int) -> list[int]:
    """Ids of the subvolumes directly inside subvolume `parent` (ROOT_REF items of the root
    tree, by id: no path a session could shape is parsed)."""
    found: list[int] = []
    fd = _open_dir(path)
    try:
        min_offset = 0
        while True:
            buf = bytearray(4096)
            struct.pack_into(
                "=7Q4I",
                buf,
                0,
                _ROOT_TREE,
                parent,
                parent,
                min_offset,
                2**64 - 1,
                0,
                2**64 - 1,
                _ROOT_REF_KEY,
                _ROOT_REF_KEY,
                4096,
                0,
            )
            fcntl.ioctl(fd, _IOC_TREE_SEARCH, buf)
            count = struct.unpack_from("=I", buf, 64)[0]
            if count == 0:
                return found
            offset = 104
            last = 0
            for _ in range(count):
                _transid, objectid, item_offset, kind, length = struct.unpack_from("=3Q2I", buf, offset)
                offset += 32 + length
                if kind == _ROOT_REF_KEY and objectid == parent:
                    found.append(item_offset)
                last = item_offset
            if last == 2**64 - 1:
                return found
            min_offset = last + 1
    finally:
        os.close(fd)


def nested_subvolumes(path: Path, top: int) -> list[int]:
    """Every subvolume below `top`, at any depth."""
    found, todo = [], [top]
    while todo:
        children = child_subvolumes(path, todo.pop())
        found += children
        todo += children
    return found


# --- quota groups through the btrfs command (writes: few, and -v shows them) ----------------


def group_for(subvolume: int) -> str:
    return f"1/{subvolume}"


def make_session_group(
    path: Path, subvolume: int, limit: int | None, runner: Runner, include_nested: bool = True
) -> str:
    """1/<subvolume> with the session (and, include_nested, what is already nested in it) as
    members; its limit."""
    group = group_for(subvolume)
    where = os.fspath(path)
    if usage(path, 1, subvolume) is None:
        runner.run(["btrfs", "qgroup", "create", group, where])
    for member in [subvolume, *(nested_subvolumes(path, subvolume) if include_nested else [])]:
        # --no-rescan: under full quotas an assign may ask for a rescan of the whole filesystem;
        # the figures of a fresh session are right without one.
        runner.run(["btrfs", "qgroup", "assign", "--no-rescan", f"0/{member}", group, where], check=False)
    if limit is not None:
        set_limit(path, subvolume, limit, runner)
    return group


def set_limit(path: Path, subvolume: int, limit: int | None, runner: Runner) -> None:
    """Cap (None: lift) the session group's exclusive bytes: writes past it fail with EDQUOT."""
    size = "none" if limit is None else str(limit)
    runner.run(["btrfs", "qgroup", "limit", "-e", size, group_for(subvolume), os.fspath(path)])


def set_level0_limit(path: Path, subvolume: int, limit: int | None, runner: Runner) -> None:
    """The same on a subvolume's own group (sessions made before session groups had it there)."""
    size = "none" if limit is None else str(limit)
    runner.run(["btrfs", "qgroup", "limit", "-e", size, f"0/{subvolume}", os.fspath(path)])


def destroy_group(path: Path, subvolume: int, runner: Runner) -> bool:
    """Remove 1/<subvolume>; False while it still has members or usage (btrfs's cleaner)."""
    if usage(path, 1, subvolume) is None:
        return True
    return runner.run(["btrfs", "qgroup", "destroy", group_for(subvolume), os.fspath(path)], check=False).ok


def measure_exclusive(tree: Path, runner: Runner, timeout: float = 600.0) -> int:
    """Bytes only `tree` holds, by walking it (`btrfs filesystem du`: a FIEMAP per file), for
    hosts with quotas off. A session's tree is hostile: call this in its sandbox (core)."""
    out = runner.run(["btrfs", "filesystem", "du", "-s", "--raw", os.fspath(tree)], changes=False, timeout=timeout)
    return int(out.stdout.splitlines()[-1].split()[1])
