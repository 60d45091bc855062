"""Checkpoints count in the session's quota and disk figures (simple quotas), rewinds included."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from herodev_shell.system import quotas
from tests.conftest import HerodevEnv
from tests.system.gitworld import git_world, in_session

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


def write_mib(world: HerodevEnv, name: str, where: str, mib: int) -> str:
    return in_session(world, name, f"dd if=/dev/urandom of={where} bs=1M count={mib} 2>&1; rc=$?; sync; echo rc=$rc")


def test_what_a_checkpoint_keeps_counts_against_the_session(world: HerodevEnv) -> None:
    assert quotas.mode(world.code_root) == quotas.SIMPLE
    world.run("create", "held", "--quota", "24M", check=True)
    try:
        assert "rc=0" in write_mib(world, "held", "blob1", 10)
        world.run("checkpoint", "held", check=True)
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
