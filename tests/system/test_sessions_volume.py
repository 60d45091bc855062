"""init makes the sessions dir a subvolume of its own, and migrates a host where it is a plain
directory (made by an earlier herodev) without losing a session, a base or a checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from herodev_shell.system import btrfs
from herodev_shell.system.subvolinfo import subvolume_info
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


def _btrfs(*args: str) -> None:
    subprocess.run(["btrfs", *args], check=True, capture_output=True)


def _to_plain(src: Path, dst: Path) -> None:
    """What an earlier herodev left: the same entries, in a plain directory."""
    info = os.lstat(src)
    if stat.S_ISDIR(info.st_mode) and info.st_ino == btrfs.SUBVOLUME_INODE:
        ro = ["-r"] if subvolume_info(src).read_only else []
        _btrfs("subvolume", "snapshot", *ro, str(src), str(dst))
        _btrfs("subvolume", "delete", str(src))
    elif stat.S_ISDIR(info.st_mode):
        dst.mkdir(mode=stat.S_IMODE(info.st_mode))
        for name in os.listdir(src):
            _to_plain(src / name, dst / name)
        src.rmdir()
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
        src.unlink()


def test_init_migrates_a_plain_sessions_dir(hd_world: HerodevEnv) -> None:
    world = hd_world
    assert btrfs.is_subvolume(world.sessions_dir), "a new host's sessions dir is not a subvolume"
    world.run("-f", "create", "old", check=True)
    world.run("enter", "old", "--", "sh", "-c", f"echo kept > {world.code_root}/work.txt", check=True)
    world.run("checkpoint", "old", "-m", "before", check=True)
    world.run("enter", "old", "--", "sh", "-c", "echo tmp-kept > /tmp/t", check=True)
    plain = world.code_root / ".sessions.plain"
    plain.mkdir(mode=0o700)
    for name in os.listdir(world.sessions_dir):
        _to_plain(world.sessions_dir / name, plain / name)
    _btrfs("subvolume", "delete", str(world.sessions_dir))
    plain.rename(world.sessions_dir)
    assert not btrfs.is_subvolume(world.sessions_dir)
    check = world.run("check")
    assert "sessions subvolume" in check.stdout

    world.run("-f", "init", "--no-packages", check=True)

    assert btrfs.is_subvolume(world.sessions_dir)
    assert "sessions subvolume" not in world.run("check").stdout
    assert sorted(p.name for p in world.code_root.iterdir() if p.name.startswith(".sessions")) == [".sessions"]
    names = [s["name"] for s in json.loads(world.run("list", "--json", check=True).stdout)]
    assert names == ["old"]
    seen = world.run("enter", "old", "--", "sh", "-c", f"cat {world.code_root}/work.txt /tmp/t", check=True)
    assert seen.stdout.split() == ["kept", "tmp-kept"]
    base = world.sessions_dir / f"{world.user('old')}.base"
    assert subvolume_info(base).read_only, "the base lost its read-only flag"
    checkpoints = json.loads(world.run("checkpoints", "old", "--json", check=True).stdout)
    assert [c["label"] for c in checkpoints] == ["before"]
    changes = world.run("changes", "-s", "old", "--json", check=True)
    assert changes.returncode == 0
    world.run("-f", "init", "--no-packages", check=True)  # again: nothing to do, nothing lost
    world.run("-f", "delete", "old", check=True)
    left = [p for p in os.listdir(world.sessions_dir) if world.user("old") in p and not p.startswith(".")]
    assert left == [], f"delete left {left}"
