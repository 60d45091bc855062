"""Checkpoints count in the session's quota and disk figures (simple quotas), rewinds included."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from herodev_shell.system import quotas
from tests.conftest import HerodevEnv
from tests.system.gitworld import git_world, in_session, session_dir

pytestmark = [
    pytest.mark.system,
    pytest.mark.skipif(not quotas.kernel_has_simple_quotas(), reason="the kernel has no simple quotas"),
]
MIB = 1 << 20


@pytest.fixture
def world() -> Iterator[HerodevEnv]:
    with git_world("herodev-cpquota-") as (env, _owner):
        yield env


def own_bytes(world: HerodevEnv, name: str) -> int:
    subprocess.run(["sync"], check=True)  # simple quotas are updated when btrfs commits
    return int(json.loads(world.run("info", name, "--json", check=True).stdout)["exclusive"])


def rootid(path: Path) -> int:
    out = subprocess.run(["btrfs", "inspect-internal", "rootid", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout)


def parents_of(world: HerodevEnv, subvolume: Path) -> list[str]:
    """The quota groups 0/<subvolume> is a member of (test-made names only: safe to parse)."""
    out = subprocess.run(
        ["btrfs", "qgroup", "show", "-p", "--raw", str(world.code_root)], capture_output=True, text=True, check=True
    ).stdout
    wanted = f"0/{rootid(subvolume)}"
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == wanted:
            return [] if fields[3] == "-" else fields[3].split(",")
    raise AssertionError(f"no quota group {wanted}:\n{out}")


def write_mib(world: HerodevEnv, name: str, where: str, mib: int) -> str:
    return in_session(world, name, f"dd if=/dev/urandom of={where} bs=1M count={mib} 2>&1; rc=$?; sync; echo rc=$rc")


def test_what_a_checkpoint_keeps_counts_against_the_session(world: HerodevEnv) -> None:
    assert quotas.mode(world.code_root) == quotas.SIMPLE
    world.run("create", "held", "--quota", "24M", check=True)
    try:
        assert "rc=0" in write_mib(world, "held", "blob1", 10)
        world.run("checkpoint", "held", check=True)
        # born a member of the session's quota group (one ioctl: snapshot + qgroup inherit)
        assert parents_of(world, world.sessions_dir / f"{world.user('held')}.checkpoints" / "1") == [
            f"1/{rootid(session_dir(world, 'held'))}"
        ]
        in_session(world, "held", "rm blob1 && sync")
        # The file is gone from the session but its checkpoint keeps it: still the session's bytes.
        assert own_bytes(world, "held") >= 10 * MIB
        assert "rc=0" in write_mib(world, "held", "blob2", 8)
        # 10 MiB kept by the checkpoint + 8 MiB + 8 MiB more would pass the 24 MiB quota.
        out = write_mib(world, "held", "blob3", 8)
        assert "rc=1" in out and "quota exceeded" in out.lower(), out
        in_session(world, "held", "rm -f blob2 blob3 && sync")

        # A rewind replaces the session's subvolume: its group, its limit and what the
        # checkpoints keep carry over to the new one.
        world.run("rewind", "held", "1", check=True)
        assert in_session(world, "held", "test -e blob1 && echo back") == "back\n"
        assert own_bytes(world, "held") >= 10 * MIB
        info = json.loads(world.run("info", "held", "--json", check=True).stdout)
        assert info["quota"] == 24 * MIB
        out = write_mib(world, "held", "blob4", 16)
        assert "rc=1" in out and "quota exceeded" in out.lower(), out
    finally:
        world.run("delete", "-f", "held")


def stale_qgroup_rows(world: HerodevEnv) -> list[dict[str, object]]:
    rows = json.loads(world.run("-n", "repair", "--json", check=True).stdout)
    return [r for r in rows if r["kind"] == "stale quota group"]


def test_a_rewound_sessions_replaced_snapshot_is_not_a_stale_quota_group(world: HerodevEnv) -> None:
    """After a rewind the replaced snapshot's quota group lives on (its bytes are shared with the
    checkpoints; btrfs refuses to destroy it): repair must not call it stale, or fail on it."""
    world.run("create", "rew", check=True)
    try:
        assert "rc=0" in write_mib(world, "rew", "blob", 2)
        world.run("checkpoint", "rew", check=True)
        world.run("rewind", "rew", "1", check=True)
        subprocess.run(["btrfs", "subvolume", "sync", str(world.code_root)], check=True, timeout=120)
        groups = subprocess.run(
            ["btrfs", "qgroup", "show", "--raw", str(world.code_root)], capture_output=True, text=True, check=True
        ).stdout
        assert "<stale>" in groups  # the situation under test: the replaced snapshot's group stays
        assert stale_qgroup_rows(world) == []
        repaired = world.run("repair")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    finally:
        world.run("delete", "-f", "rew")


def qgroup_ids(world: HerodevEnv) -> set[str]:
    out = subprocess.run(
        ["btrfs", "qgroup", "show", "--raw", str(world.code_root)], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[0] for line in out.splitlines() if line[:1].isdigit()}


def test_a_deleted_rewound_session_leaves_no_quota_groups(world: HerodevEnv) -> None:
    """A rewind retires a snapshot whose group outlives it (empty once the checkpoints go); after
    the session is deleted the next delete's sweep removes that group and the session groups it
    kept alive, so no quota group piles up per rewind."""
    world.run("create", "gone", check=True)
    try:
        assert "rc=0" in write_mib(world, "gone", "blob", 1)
        before = rootid(session_dir(world, "gone"))
        world.run("checkpoint", "gone", check=True)
        world.run("rewind", "gone", "1", check=True)
        after = rootid(session_dir(world, "gone"))
    finally:
        world.run("delete", "-f", "gone", check=True)
    subprocess.run(["btrfs", "subvolume", "sync", str(world.code_root)], check=True, timeout=120)
    ours = {f"0/{before}", f"1/{before}", f"1/{after}"}
    assert f"0/{before}" in qgroup_ids(world)  # the retired snapshot's empty group: what must go
    world.run("create", "next", check=True)
    world.run("delete", "-f", "next", check=True)  # its sweep
    assert not ours & qgroup_ids(world), qgroup_ids(world)
