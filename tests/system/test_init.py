"""init and check for real: a sparse loopback image, mkfs, a mounted subvolume, one fstab line."""

from __future__ import annotations

import json
import os

import pytest

from herodev_shell.system.btrfs import is_subvolume
from herodev_shell.system.mounts import mount_at
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


def _fstab_lines_for(world: HerodevEnv) -> list[str]:
    return [line for line in world.fstab.read_text().splitlines() if f" {world.code_root} " in f" {line} "]


def test_init_twice_keeps_one_line_and_the_data(hd_env: HerodevEnv) -> None:
    hd_env.fstab.write_text("# keep me\nUUID=1 / ext4 defaults 0 1\n")
    first = hd_env.run("-f", "init", "--no-packages", check=True)
    assert "done" in first.stdout
    assert hd_env.image.exists() and hd_env.image.stat().st_blocks * 512 < 200 << 20  # sparse
    assert (hd_env.image.stat().st_mode & 0o777) == 0o600
    mount = mount_at(hd_env.code_root)
    assert mount is not None and mount.fstype == "btrfs" and "@code" in mount.root
    assert "noatime" in mount.options.split(",")  # reads must not show up as changes
    assert is_subvolume(hd_env.code_root)
    assert _fstab_lines_for(hd_env) and len(_fstab_lines_for(hd_env)) == 1
    assert hd_env.fstab.read_text().startswith("# keep me\nUUID=1 / ext4 defaults 0 1\n")
    assert (hd_env.sessions_dir.stat().st_mode & 0o777) == 0o700
    state = json.loads((hd_env.sessions_dir / "herodev.json").read_text())
    assert state["code_owner_uid"] == 0

    (hd_env.code_root / "precious.txt").write_text("work")
    second = hd_env.run("-f", "init", "--no-packages", check=True)
    assert "already prepared" in second.stdout
    assert len(_fstab_lines_for(hd_env)) == 1
    assert (hd_env.code_root / "precious.txt").read_text() == "work"

    check = hd_env.run("check", "--json")
    rows = {row["name"]: row for row in json.loads(check.stdout)}
    assert rows["code root"]["status"] == "pass"
    assert rows["sessions dir"]["status"] == "pass"


def test_init_after_unmount_reuses_the_image(hd_env: HerodevEnv) -> None:
    hd_env.run("-f", "init", "--no-packages", check=True)
    (hd_env.code_root / "kept").write_text("1")
    os.system(f"umount {hd_env.code_root}")
    assert mount_at(hd_env.code_root) is None
    result = hd_env.run("-f", "init", "--no-packages", check=True)
    assert "reusing" in result.stdout
    assert (hd_env.code_root / "kept").read_text() == "1"
    assert len(_fstab_lines_for(hd_env)) == 1


def test_dry_run_prints_every_step_and_changes_nothing(hd_env: HerodevEnv) -> None:
    result = hd_env.run("-n", "init", "--size", "2G", "--no-packages", check=True)
    plan = result.stdout + result.stderr
    assert "mkfs.btrfs" in plan
    assert "mount" in plan
    assert "fstab" in plan
    assert "dry run" in plan
    assert not hd_env.image.exists()
    assert not hd_env.fstab.exists()
    assert not hd_env.code_root.exists()


def test_refuses_to_format_a_foreign_filesystem(hd_env: HerodevEnv) -> None:
    with hd_env.image.open("wb") as handle:
        handle.truncate(64 << 20)
    os.system(f"mkfs.ext4 -q {hd_env.image}")
    result = hd_env.run("-f", "init", "--no-packages")
    assert result.returncode == 1
    assert "already holds a ext4 filesystem" in result.stderr
    assert "--reformat" in result.stderr
    assert mount_at(hd_env.code_root) is None


def test_refuses_a_non_empty_code_root(hd_env: HerodevEnv) -> None:
    hd_env.code_root.mkdir()
    (hd_env.code_root / "repo").mkdir()
    result = hd_env.run("-f", "init", "--no-packages")
    assert result.returncode == 1
    assert "not empty" in result.stderr and "--migrate" in result.stderr
    assert not hd_env.image.exists()


def test_migrate_copies_existing_files_into_btrfs(hd_env: HerodevEnv) -> None:
    (hd_env.code_root / "org" / "repo").mkdir(parents=True)
    (hd_env.code_root / "org" / "repo" / "f").write_text("data")
    hd_env.run("-f", "init", "--no-packages", "--migrate", check=True)
    assert is_subvolume(hd_env.code_root)
    assert (hd_env.code_root / "org" / "repo" / "f").read_text() == "data"


def test_check_warns_when_sessions_must_share_the_hosts_tmp(hd_env: HerodevEnv) -> None:
    """A code root under /tmp cannot get a private /tmp per session (it would vanish under it):
    herodev then quietly keeps the host's /tmp, so check must say so."""

    def row(**env: str) -> dict[str, str]:
        rows = json.loads(hd_env.run("check", "--json", **env).stdout)
        return next(r for r in rows if r["name"] == "session /tmp")

    assert row()["status"] == "pass"  # the test world lives under /var/tmp
    shared = row(HERODEV_CODE_ROOT="/tmp/herodev-nowhere/code")
    assert shared["status"] == "warn" and "/tmp/herodev-nowhere/code" in shared["detail"]
