"""Idmapped mounts through raw syscalls (ctypes): the session's constant-time write access.

A detached clone of the session snapshot gets an id mapping that swaps the code owner and
the session user (every other id maps to itself), so the owner's files show as the session
user's and what the session user creates is stored as the code owner. Nothing is chowned.

Python 3.11 has no os.unshare nor the new mount API, so they come from libc here. Every
function raises OSError with the syscall's errno.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

# Syscall numbers of the new mount API are the same on every architecture Debian ships.
SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70  # the atime field: clear it to set one of the values below
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_IDMAP = 0x100000

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

# A uid_map covers at most 2**32 - 1 ids (4294967295 is the invalid id -1).
ID_LIMIT = 4294967295

# Tests force the slower fallback with this (HERODEV_NO_IDMAP=1).
DISABLE_ENV = "HERODEV_NO_IDMAP"


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str, path: str | os.PathLike[str] | None = None) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", os.fspath(path) if path is not None else None)
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else os.fsencode(text)

    result = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(result, f"mount {target}", target)


def open_tree(path: str | os.PathLike[str], flags: int) -> int:
    result = _libc.syscall(
        ctypes.c_long(SYS_OPEN_TREE), ctypes.c_int(AT_FDCWD), os.fsencode(os.fspath(path)), ctypes.c_uint(flags)
    )
    return _check(result, "open_tree", path)


def mount_setattr(fd: int, attr_set: int, userns_fd: int = 0, attr_clr: int = 0) -> None:
    attr = _MountAttr(attr_set, attr_clr, 0, userns_fd)
    result = _libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(fd),
        b"",
        ctypes.c_uint(AT_EMPTY_PATH),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(result, "mount_setattr")


def move_mount(fd: int, target: str | os.PathLike[str]) -> None:
    result = _libc.syscall(
        ctypes.c_long(SYS_MOVE_MOUNT),
        ctypes.c_int(fd),
        b"",
        ctypes.c_int(AT_FDCWD),
        os.fsencode(os.fspath(target)),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
    )
    _check(result, "move_mount", target)


def swap_map(a: int, b: int) -> list[tuple[int, int, int]]:
    """uid_map rows (inside, outside, count): identity except a <-> b. Zero-length rows dropped.

    The map is its own inverse, so it reads the same in both directions: files of a show as b
    and files b creates are stored as a.
    """
    if a == b:
        return [(0, 0, ID_LIMIT)]
    lo, hi = sorted((a, b))
    rows = [(0, 0, lo), (lo, hi, 1), (lo + 1, lo + 1, hi - lo - 1), (hi, lo, 1), (hi + 1, hi + 1, ID_LIMIT - hi - 1)]
    return [row for row in rows if row[2] > 0]


def map_text(rows: list[tuple[int, int, int]]) -> str:
    return "".join(f"{inside} {outside} {count}\n" for inside, outside, count in rows)


def user_namespace(uid_rows: list[tuple[int, int, int]], gid_rows: list[tuple[int, int, int]]) -> int:
    """An fd of a new user namespace with these maps (a helper process unshares, we write maps).

    The helper exits before we return; the fd keeps the namespace alive for mount_setattr.
    """
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the helper: unshare, say so, wait to be released
        code = 0
        try:
            os.close(ready_r)
            os.close(done_w)
            ok = _libc.unshare(ctypes.c_int(CLONE_NEWUSER)) == 0
            os.write(ready_w, b"1" if ok else b"0")
            os.read(done_r, 1)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise OSError(1, "unshare(CLONE_NEWUSER) failed in the helper process")
        for kind, rows in (("uid_map", uid_rows), ("gid_map", gid_rows)):
            fd = os.open(f"/proc/{pid}/{kind}", os.O_WRONLY)
            try:
                os.write(fd, map_text(rows).encode())  # the kernel wants the map in one write
            finally:
                os.close(fd)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def idmapped_clone(source: str | os.PathLike[str], userns_fd: int, extra_attrs: int = 0, clear: int = 0) -> int:
    """A detached clone of the mount at source, idmapped through userns_fd: attach with move_mount."""
    fd = open_tree(source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    try:
        mount_setattr(fd, MOUNT_ATTR_IDMAP | extra_attrs, userns_fd, clear)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _kernel_text() -> str:
    return f"kernel {os.uname().release}"


def support(path: Path | None = None) -> tuple[bool, str]:
    """Whether an idmapped mount of path works, tried for real on a detached clone (root only)."""
    if os.environ.get(DISABLE_ENV) == "1":
        return False, f"disabled by {DISABLE_ENV}=1 (test only): sessions chown their snapshot once"
    if os.geteuid() != 0 or path is None or not path.exists():
        return True, f"{_kernel_text()} (not probed: needs root and an existing code root)"
    try:
        userns = user_namespace(swap_map(0, 1), swap_map(0, 1))
        try:
            os.close(idmapped_clone(path, userns, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV))
        finally:
            os.close(userns)
    except OSError as exc:
        return False, f"{_kernel_text()} refuses an idmapped mount of {path} ({exc.strerror}): sessions chown once"
    return True, f"{_kernel_text()}: idmapped mount of {path} works"
