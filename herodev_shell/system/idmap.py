"""Idmapped mounts through raw syscalls (ctypes): the session's constant-time write access.

A detached clone of the session snapshot gets an id mapping that swaps the code owner and
the session user (every other id maps to itself), so the owner's files show as the session
user's and what the session user creates is stored as the code owner. Nothing is chowned.

The syscalls themselves (unshare, open_tree, mount_setattr, move_mount) are in libc.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from herodev_shell.system import libc, privileges
from herodev_shell.system.libc import (
    MOUNT_ATTR_IDMAP,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOSUID,
    OPEN_TREE_CLOEXEC,
    OPEN_TREE_CLONE,
    mount_setattr,
    open_tree,
)

# A uid_map covers at most 2**32 - 1 ids (4294967295 is the invalid id -1).
ID_LIMIT = 4294967295

# Tests force the slower fallback with this (HERODEV_NO_IDMAP=1).
DISABLE_ENV = "HERODEV_NO_IDMAP"


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
            try:
                libc.unshare(libc.CLONE_NEWUSER)
                ok = True
            except OSError:
                ok = False
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
    if not privileges.is_root() or path is None or not path.exists():
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
