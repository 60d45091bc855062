"""btrfs through its command line: images, mkfs, mounts, subvolumes, snapshots.

The PyPI btrfsutil bindings do not load against Debian 12's libbtrfsutil, so everything goes
through `btrfs` via the runner. Cheap questions (is this btrfs, is this a subvolume) are
answered from the mount table and stat without a process.
"""

from __future__ import annotations

import os
from pathlib import Path

from herodev_shell.system.mounts import mount_containing
from herodev_shell.system.runner import Runner

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
