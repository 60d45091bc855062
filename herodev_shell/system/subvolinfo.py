"""BTRFS_IOC_GET_SUBVOL_INFO: a subvolume's generations from one ioctl, no process.

Listing hundreds of sessions must not start a `btrfs subvolume show` per session; this ioctl
answers "did this snapshot change since it was made" (ctransid > otransid) in microseconds.
The root item it reads is updated when btrfs commits (within ~30 s of a write).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

_UUID = ctypes.c_uint8 * 16


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_uint64), ("nsec", ctypes.c_uint32)]


class _SubvolInfoArgs(ctypes.Structure):
    _fields_ = [
        ("treeid", ctypes.c_uint64),
        ("name", ctypes.c_char * 256),
        ("parent_id", ctypes.c_uint64),
        ("dirid", ctypes.c_uint64),
        ("generation", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("uuid", _UUID),
        ("parent_uuid", _UUID),
        ("received_uuid", _UUID),
        ("ctransid", ctypes.c_uint64),
        ("otransid", ctypes.c_uint64),
        ("stransid", ctypes.c_uint64),
        ("rtransid", ctypes.c_uint64),
        ("ctime", _Timespec),
        ("otime", _Timespec),
        ("stime", _Timespec),
        ("rtime", _Timespec),
        ("reserved", ctypes.c_uint64 * 8),
    ]


def _ior(kind: int, number: int, size: int) -> int:
    return (2 << 30) | (size << 16) | (kind << 8) | number


BTRFS_IOC_GET_SUBVOL_INFO = _ior(0x94, 60, ctypes.sizeof(_SubvolInfoArgs))


@dataclass(frozen=True)
class SubvolumeInfo:
    treeid: int
    generation: int
    ctransid: int  # last change
    otransid: int  # creation
    read_only: bool


def subvolume_info(path: Path) -> SubvolumeInfo:
    """Raises OSError when path is not the top of a btrfs subvolume (or is unreadable)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return subvolume_info_fd(fd)
    finally:
        os.close(fd)


def subvolume_info_fd(fd: int) -> SubvolumeInfo:
    """The same from an fd already open (opened without following links, by the caller)."""
    args = _SubvolInfoArgs()
    fcntl.ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, args)
    return SubvolumeInfo(args.treeid, args.generation, args.ctransid, args.otransid, bool(args.flags & 1))
