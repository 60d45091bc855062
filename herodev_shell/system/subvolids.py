"""Subvolumes by id: which ones lie inside a session's, found with ioctls, never by path.

A session controls every name inside its snapshot: a directory name with a newline forges a
line of `btrfs subvolume list`, and a directory swapped for a symlink in the middle of a
path turns a delete of "its" nested subvolume into a delete of someone else's. So:

- the session's own subvolume id comes from an fd opened without following links, in the
  root-owned sessions directory (BTRFS_IOC_GET_SUBVOL_INFO on that fd);
- the subvolumes inside it are the ROOT_REF items of the root tree (BTRFS_IOC_TREE_SEARCH),
  read recursively from that id: each found id is, by construction, a descendant of it;
- deletion is `btrfs subvolume delete --subvolid ID <code root>`: no session-shaped path.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
from pathlib import Path

from herodev_shell.system.subvolinfo import subvolume_info_fd

ROOT_TREE_OBJECTID = 1
ROOT_REF_KEY = 156  # (parent id, ROOT_REF, child id): child is a subvolume inside parent
_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1


class _SearchKey(ctypes.Structure):
    _fields_ = [
        ("tree_id", ctypes.c_uint64),
        ("min_objectid", ctypes.c_uint64),
        ("max_objectid", ctypes.c_uint64),
        ("min_offset", ctypes.c_uint64),
        ("max_offset", ctypes.c_uint64),
        ("min_transid", ctypes.c_uint64),
        ("max_transid", ctypes.c_uint64),
        ("min_type", ctypes.c_uint32),
        ("max_type", ctypes.c_uint32),
        ("nr_items", ctypes.c_uint32),
        ("unused", ctypes.c_uint32),
        ("unused1", ctypes.c_uint64),
        ("unused2", ctypes.c_uint64),
        ("unused3", ctypes.c_uint64),
        ("unused4", ctypes.c_uint64),
    ]


class _SearchArgs(ctypes.Structure):
    _fields_ = [("key", _SearchKey), ("buf", ctypes.c_uint8 * (4096 - ctypes.sizeof(_SearchKey)))]


def _iowr(kind: int, number: int, size: int) -> int:
    return (3 << 30) | (size << 16) | (kind << 8) | number


class _VolArgsV2(ctypes.Structure):
    _fields_ = [
        ("fd", ctypes.c_int64),
        ("transid", ctypes.c_uint64),
        ("flags", ctypes.c_uint64),
        ("unused", ctypes.c_uint64 * 4),
        ("subvolid", ctypes.c_uint64),  # a union with the 4040-byte name
        ("rest", ctypes.c_uint8 * (4040 - 8)),
    ]


def _iow(kind: int, number: int, size: int) -> int:
    return (1 << 30) | (size << 16) | (kind << 8) | number


BTRFS_IOC_TREE_SEARCH = _iowr(0x94, 17, ctypes.sizeof(_SearchArgs))
BTRFS_IOC_SNAP_DESTROY_V2 = _iow(0x94, 63, ctypes.sizeof(_VolArgsV2))
BTRFS_SUBVOL_SPEC_BY_ID = 1 << 4
_HEADER = struct.Struct("=QQQII")  # transid, objectid, offset, type, len


def open_subvolume(parent: Path, name: str) -> int:
    """An fd of parent/name, the last component never followed (parent must be root's own)."""
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def subvolume_id_of(parent: Path, name: str) -> int:
    """The id of the subvolume at parent/name, from an fd opened without following links."""
    fd = open_subvolume(parent, name)
    try:
        return subvolume_info_fd(fd).treeid
    finally:
        os.close(fd)


def child_ids(fd: int, parent_id: int) -> list[int]:
    """Ids of the subvolumes directly inside parent_id (root only: TREE_SEARCH needs CAP_SYS_ADMIN)."""
    found: list[int] = []
    min_offset = 0
    while True:
        args = _SearchArgs()
        key = args.key
        key.tree_id = ROOT_TREE_OBJECTID
        key.min_objectid = key.max_objectid = parent_id
        key.min_type = key.max_type = ROOT_REF_KEY
        key.min_offset, key.max_offset = min_offset, _U64_MAX
        key.min_transid, key.max_transid = 0, _U64_MAX
        key.nr_items = 4096
        fcntl.ioctl(fd, BTRFS_IOC_TREE_SEARCH, args)
        if key.nr_items == 0:
            return found
        buf = bytes(args.buf)  # c_uint8, not c_char: a c_char array would stop at the first NUL
        pos = 0
        last = min_offset
        for _ in range(key.nr_items):
            _transid, objectid, offset, kind, length = _HEADER.unpack_from(buf, pos)
            pos += _HEADER.size + length
            if objectid == parent_id and kind == ROOT_REF_KEY:
                found.append(offset)
            last = offset
        if last >= _U64_MAX:
            return found
        min_offset = last + 1


def destroy(fd: int, ident: int) -> None:
    """Delete subvolume ident of fd's filesystem (BTRFS_IOC_SNAP_DESTROY_V2, by id: no path)."""
    args = _VolArgsV2()
    args.flags = BTRFS_SUBVOL_SPEC_BY_ID
    args.subvolid = ident
    fcntl.ioctl(fd, BTRFS_IOC_SNAP_DESTROY_V2, args)


def descendants(fd: int, top_id: int) -> list[int]:
    """Every subvolume id nested (at any depth) inside top_id, deepest first: the delete order."""
    order: list[int] = []

    def walk(ident: int, depth: int) -> None:
        if depth > 512:  # btrfs nests no deeper than the path length allows; never loop
            raise OSError(40, f"subvolume {top_id}: nesting deeper than 512")
        for child in child_ids(fd, ident):
            walk(child, depth + 1)
            order.append(child)

    walk(top_id, 0)
    return order
