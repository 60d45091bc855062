"""Snapshots and quota-group membership by ioctl: no `btrfs` process, no path a session shapes.

A checkpoint is one BTRFS_IOC_SNAP_CREATE_V2 (read-only) on fds opened without following
links in root's own directories; with quotas on, the same call can make it a member of the
session's quota group (BTRFS_SUBVOL_QGROUP_INHERIT), as `btrfs subvolume snapshot -i` does.
A `btrfs` process costs about as much as the snapshot itself (~10-20 ms here), which is why
these go through the ioctls.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from pathlib import Path

BTRFS_SUBVOL_RDONLY = 1 << 1
BTRFS_SUBVOL_QGROUP_INHERIT = 1 << 2
NAME_MAX = 4040  # BTRFS_SUBVOL_NAME_MAX + 1


class _QgroupInherit(ctypes.Structure):
    """struct btrfs_qgroup_inherit with one qgroup (size checked by the kernel)."""

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("num_qgroups", ctypes.c_uint64),
        ("num_ref_copies", ctypes.c_uint64),
        ("num_excl_copies", ctypes.c_uint64),
        ("lim_flags", ctypes.c_uint64),
        ("max_rfer", ctypes.c_uint64),
        ("max_excl", ctypes.c_uint64),
        ("rsv_rfer", ctypes.c_uint64),
        ("rsv_excl", ctypes.c_uint64),
        ("qgroups", ctypes.c_uint64 * 1),
    ]


class _SnapArgs(ctypes.Structure):
    """struct btrfs_ioctl_vol_args_v2, name variant."""

    _fields_ = [
        ("fd", ctypes.c_int64),
        ("transid", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("size", ctypes.c_uint64),
        ("qgroup_inherit", ctypes.c_void_p),
        ("unused", ctypes.c_uint64 * 2),
        ("name", ctypes.c_char * NAME_MAX),
    ]


class _AssignArgs(ctypes.Structure):
    _fields_ = [("assign", ctypes.c_uint64), ("src", ctypes.c_uint64), ("dst", ctypes.c_uint64)]


def _iow(number: int, size: int) -> int:
    return (1 << 30) | (size << 16) | (0x94 << 8) | number


BTRFS_IOC_SNAP_CREATE_V2 = _iow(23, ctypes.sizeof(_SnapArgs))
BTRFS_IOC_QGROUP_ASSIGN = _iow(41, ctypes.sizeof(_AssignArgs))


def qgroupid(level: int, ident: int) -> int:
    return (level << 48) | ident


def _open_dir(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)


def snapshot(source: Path, parent: Path, name: str, read_only: bool = True, group: int | None = None) -> None:
    """parent/name := a snapshot of the subvolume at source; group (a level-1 qgroup id, 1/group)
    makes it a member at birth. Raises OSError (EEXIST, EINVAL for a group that is gone...)."""
    raw = os.fsencode(name)
    if not raw or b"/" in raw or len(raw) >= NAME_MAX:
        raise ValueError(f"bad snapshot name {name!r}")
    args = _SnapArgs()
    args.flags = BTRFS_SUBVOL_RDONLY if read_only else 0
    args.name = raw
    inherit = None
    if group is not None:
        inherit = _QgroupInherit()
        inherit.num_qgroups = 1
        inherit.qgroups[0] = qgroupid(1, group)
        args.flags |= BTRFS_SUBVOL_QGROUP_INHERIT
        args.size = ctypes.sizeof(inherit)
        args.qgroup_inherit = ctypes.addressof(inherit)
    source_fd = _open_dir(source)
    try:
        parent_fd = _open_dir(parent)
        try:
            args.fd = source_fd
            fcntl.ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, args)
        finally:
            os.close(parent_fd)
    finally:
        os.close(source_fd)


def assign(root: Path, member: int, group: int) -> None:
    """Make 0/member a member of 1/group (no rescan: what `qgroup assign --no-rescan` does)."""
    args = _AssignArgs(1, qgroupid(0, member), qgroupid(1, group))
    fd = _open_dir(root)
    try:
        fcntl.ioctl(fd, BTRFS_IOC_QGROUP_ASSIGN, args)
    finally:
        os.close(fd)
