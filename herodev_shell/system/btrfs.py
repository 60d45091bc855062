"""btrfs through its command line: images, mkfs, mounts, subvolumes, snapshots.

The PyPI btrfsutil bindings do not load against Debian 12's libbtrfsutil, so everything goes
through `btrfs` via the runner. Cheap questions (is this btrfs, is this a subvolume) are
answered from the mount table and stat without a process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from herodev_shell.errors import HerodevError
from herodev_shell.system import subvolids
from herodev_shell.system.mounts import mount_containing
from herodev_shell.system.runner import Runner
from herodev_shell.system.subvolinfo import subvolume_info_fd

# The first inode of every btrfs subvolume.
SUBVOLUME_INODE = 256
SUBVOLUME_NAME = "@code"


def is_btrfs(path: str | os.PathLike[str]) -> bool:
    mount = mount_containing(path)
    return mount is not None and mount.fstype == "btrfs"


def is_subvolume(path: str | os.PathLike[str]) -> bool:
    try:
        return is_btrfs(path) and os.stat(path, follow_symlinks=False).st_ino == SUBVOLUME_INODE
    except OSError:
        return False


def filesystem_type_of(device_or_image: str | os.PathLike[str], runner: Runner) -> str:
    """The filesystem blkid finds on a device or image file, '' when there is none."""
    result = runner.run(
        ["blkid", "-p", "-o", "value", "-s", "TYPE", os.fspath(device_or_image)], changes=False, check=False
    )
    # blkid exits 2 when it finds nothing to report.
    return result.stdout.strip() if result.returncode == 0 else ""


def create_sparse_image(path: Path, size_bytes: int, runner: Runner) -> None:
    if runner.dry_run:
        runner.say(f"would create sparse image {path} of {size_bytes} bytes")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: never clobber an image that appeared since we looked.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size_bytes)
    finally:
        os.close(fd)


def mkfs(image: Path, runner: Runner, label: str = "herodev") -> None:
    runner.run(["mkfs.btrfs", "-q", "-L", label, os.fspath(image)], timeout=600)


def mount(source: Path, target: Path, runner: Runner, options: str = "") -> None:
    argv = ["mount", "-t", "btrfs"]
    if options:
        argv += ["-o", options]
    runner.run([*argv, os.fspath(source), os.fspath(target)])


def umount(target: Path, runner: Runner, lazy: bool = False) -> None:
    runner.run(["umount", *(["-l"] if lazy else []), os.fspath(target)])


def create_subvolume(path: Path, runner: Runner) -> None:
    runner.run(["btrfs", "subvolume", "create", os.fspath(path)])


def snapshot(source: Path, target: Path, runner: Runner, read_only: bool = False) -> None:
    argv = ["btrfs", "subvolume", "snapshot"]
    if read_only:
        argv.append("-r")
    runner.run([*argv, os.fspath(source), os.fspath(target)])


def delete_subvolume(path: Path, runner: Runner) -> None:
    runner.run(["btrfs", "subvolume", "delete", os.fspath(path)])


def subvolume_generation(path: Path, runner: Runner) -> int:
    """The subvolume's current generation (transid), from `btrfs subvolume show`."""
    out = runner.run(["btrfs", "subvolume", "show", os.fspath(path)], changes=False).stdout
    for line in out.splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == "Generation":
            return int(value.strip())
    return 0


def changed_paths_dump(base_ro: Path, current_ro: Path, runner: Runner) -> str:
    """`btrfs send --no-data -p BASE CURRENT | btrfs receive --dump`: the raw change stream."""
    return runner.pipe(
        ["btrfs", "send", "--no-data", "-q", "-p", os.fspath(base_ro), os.fspath(current_ro)],
        ["btrfs", "receive", "--dump"],
        timeout=600,
    ).stdout


# --- quotas (qgroups) and nested subvolumes ---------------------------------------------------


@dataclass(frozen=True)
class Qgroup:
    """One level-0 quota group: a subvolume's referenced and exclusive bytes, and its limit."""

    subvolume_id: int
    referenced: int
    exclusive: int
    max_exclusive: int | None  # None: no limit
    path: str  # relative to the filesystem's top level; '' for <toplevel>, '<stale>' for deleted


def _int_or_none(text: str) -> int | None:
    return None if text == "none" else int(text)


def parse_qgroup_show(text: str) -> list[Qgroup]:
    """`btrfs qgroup show --raw -e PATH` (columns: id, rfer, excl, max excl, path)."""
    groups = []
    for line in text.splitlines():
        fields = line.split(maxsplit=4)
        if len(fields) < 4 or "/" not in fields[0] or not fields[0].split("/")[0].isdigit():
            continue
        level, _, ident = fields[0].partition("/")
        if level != "0":
            continue
        path = fields[4] if len(fields) > 4 else ""
        groups.append(
            Qgroup(
                subvolume_id=int(ident),
                referenced=int(fields[1]),
                exclusive=int(fields[2]),
                max_exclusive=_int_or_none(fields[3]),
                path="" if path == "<toplevel>" else path,
            )
        )
    return groups


def qgroups(path: Path, runner: Runner) -> list[Qgroup] | None:
    """Every subvolume's usage in one process; None when quotas are not enabled."""
    result = runner.run(["btrfs", "qgroup", "show", "--raw", "-e", os.fspath(path)], changes=False, check=False)
    if result.returncode != 0:
        return None
    return parse_qgroup_show(result.stdout)


def quota_enabled(path: Path, runner: Runner) -> bool:
    return qgroups(path, runner) is not None


def enable_quota(path: Path, runner: Runner) -> None:
    runner.run(["btrfs", "quota", "enable", os.fspath(path)])


def subvolume_id(path: Path, runner: Runner) -> int:
    out = runner.run(["btrfs", "inspect-internal", "rootid", os.fspath(path)], changes=False).stdout
    return int(out.strip())


def limit_exclusive(path: Path, size_bytes: int | None, runner: Runner) -> None:
    """Cap the subvolume's exclusive bytes (None lifts the cap); writes past it fail with EDQUOT."""
    ident = subvolume_id(path, runner)
    size = "none" if size_bytes is None else str(size_bytes)
    runner.run(["btrfs", "qgroup", "limit", "-e", size, f"0/{ident}", os.fspath(path)])


def cleaner_busy(path: Path, runner: Runner) -> bool:
    """Whether deleted subvolumes still wait for btrfs's cleaner (`subvolume list -d`)."""
    out = runner.run(["btrfs", "subvolume", "list", "-d", os.fspath(path)], changes=False, check=False).stdout
    return bool(out.strip())


def destroy_qgroup(path: Path, subvolume: int, runner: Runner) -> bool:
    """Remove the qgroup a deleted subvolume left behind; False while btrfs still cleans it.

    Waits (bounded) for the cleaner to drop the subvolume first: before that the kernel says busy.
    """
    runner.run(["btrfs", "subvolume", "sync", os.fspath(path), str(subvolume)], check=False, timeout=60)
    if runner.run(["btrfs", "qgroup", "destroy", f"0/{subvolume}", os.fspath(path)], check=False).ok:
        return True
    # Recent kernels drop a deleted subvolume's qgroup themselves once it is cleaned.
    return all(g.subvolume_id != subvolume for g in qgroups(path, runner) or [])


def filesystem_path(path: Path) -> str:
    """path as btrfs names it: relative to the filesystem's top level (from the mount table)."""
    mount = mount_containing(path)
    if mount is None:
        return os.fspath(path).strip("/")
    inside = os.path.relpath(os.path.realpath(path), mount.target)
    joined = os.path.normpath(os.path.join(mount.root, "" if inside == "." else inside))
    return joined.strip("/")


def delete_subvolume_id(ident: int, where: Path, runner: Runner) -> None:
    """Delete subvolume ident, by id; where (root's own directory) names the filesystem."""
    if runner.dry_run or runner.verbose:
        runner.say(f"{'would delete' if runner.dry_run else '+ delete'} subvolume id {ident} of {where}")
    if runner.dry_run:
        return
    fd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        subvolids.destroy(fd, ident)
    except OSError as exc:
        raise HerodevError(f"cannot delete subvolume {ident} under {where}: {exc.strerror}") from None
    finally:
        os.close(fd)


def delete_subvolume_tree(path: Path, runner: Runner) -> list[int]:
    """Delete a subvolume and every subvolume nested in it, deepest first, all by id. Returns the nested ids.

    path's parent is root's own directory (the sessions or checkpoints dir); nothing inside
    path is ever resolved: its id comes from an fd opened without following links, the
    nested ones from the root tree's references (system/subvolids.py), so a session's
    names (newlines, symlinks swapped in mid-path) choose nothing. A plain delete would also
    fail with 'Directory not empty' when a session user (or podman) made a subvolume inside.
    """
    fd = subvolids.open_subvolume(path.parent, path.name)
    try:
        top = subvolume_info_fd(fd).treeid
        nested = subvolids.descendants(fd, top)
    finally:
        os.close(fd)
    for ident in [*nested, top]:
        delete_subvolume_id(ident, path.parent, runner)
    return nested


def space(path: Path) -> tuple[int, int]:
    """(size, free) in bytes of the filesystem holding path, as df shows them (statvfs)."""
    stat = os.statvfs(path)
    return stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
