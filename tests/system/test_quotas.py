"""Quota modes for real: init --quotas simple|full|off, check, create --quota, list/df figures
with a subvolume made inside a session, deleting a session at its limit, switching modes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from herodev_shell.system import quotas
from tests.conftest import HerodevEnv
from tests.system.gitworld import git_world, in_session, session_dir

pytestmark = pytest.mark.system

needs_simple = pytest.mark.skipif(not quotas.kernel_has_simple_quotas(), reason="the kernel has no simple quotas")


@pytest.fixture
def world() -> Iterator[HerodevEnv]:
    with git_world("herodev-quota-") as (env, _owner):
        yield env


def check_row(world: HerodevEnv) -> dict[str, str]:
    rows = json.loads(world.run("check", "--json").stdout)
    return next(r for r in rows if r["name"] == "quotas")


def listed(world: HerodevEnv) -> dict[str, dict[str, object]]:
    subprocess.run(["sync"], check=True)  # figures are updated when btrfs commits
    return {r["name"]: r for r in json.loads(world.run("list", "--json", check=True).stdout)}


def write_mib(world: HerodevEnv, name: str, where: str, mib: int) -> str:
    return in_session(world, name, f"dd if=/dev/urandom of={where} bs=1M count={mib} 2>&1; echo rc=$?")


@needs_simple
def test_simple_is_the_default_and_its_limit_covers_nested_subvolumes(world: HerodevEnv) -> None:
    assert quotas.mode(world.code_root) == quotas.SIMPLE
    row = check_row(world)
    assert row["status"] == "pass" and row["detail"].startswith("simple")
    world.run("-f", "create", "small", "--quota", "20M", check=True)
    in_session(world, "small", "btrfs subvolume create inner >/dev/null")
    # The escape of issue 9: a subvolume made inside the session. It joins the session's group.
    out = write_mib(world, "small", "inner/blob", 40)
    assert "rc=1" in out and "quota exceeded" in out.lower(), out
    rows = listed(world)
    assert rows["small"]["quota"] == 20 << 20
    assert 10 << 20 <= rows["small"]["exclusive"] <= 21 << 20  # the nested subvolume's bytes count
    df = json.loads(world.run("df", "--json", check=True).stdout)
    assert df["mode"] == "simple"
    (entry,) = [s for s in df["sessions"] if s["name"] == "small"]
    assert entry["nested"] == 1 and entry["exclusive"] == rows["small"]["exclusive"]
    # At its limit: btrfs refuses to delete such a subvolume unless the limit is lifted first.
    world.run("-f", "delete", "small", check=True)
    assert not session_dir(world, "small").exists()


@needs_simple
def test_full_quotas_warn_in_check_limit_and_count_nested(world: HerodevEnv) -> None:
    world.run("-f", "create", "before", check=True)
    switched = world.run("-f", "init", "--no-packages", "--quotas", "full", check=True)
    assert "simple -> full" in switched.stdout and "rescans" in switched.stdout
    assert quotas.mode(world.code_root) == quotas.FULL
    row = check_row(world)
    assert row["status"] == "warn" and "accounted at the next commit" in row["detail"]
    world.run("-f", "create", "capped", "--quota", "20M", check=True)
    out = write_mib(world, "capped", "blob", 40)
    assert "rc=1" in out and "quota exceeded" in out.lower(), out
    in_session(world, "before", "btrfs subvolume create inner >/dev/null")
    write_mib(world, "before", "inner/blob", 8)
    rows = listed(world)
    assert rows["capped"]["quota"] == 20 << 20
    assert rows["before"]["exclusive"] >= 8 << 20  # counted though it is not under the session's group
    world.run("-f", "delete", "capped", check=True)
    world.run("-f", "delete", "-f", "before", check=True)


def test_off_measures_on_demand_and_refuses_create_quota(world: HerodevEnv) -> None:
    world.run("-f", "create", "w", check=True)
    switched = world.run("-f", "init", "--no-packages", "--quotas", "off", check=True)
    assert "-> off" in switched.stdout and "df measures" in switched.stdout
    assert quotas.mode(world.code_root) == quotas.OFF
    assert check_row(world)["detail"].startswith("off")
    refused = world.run("-f", "create", "q", "--quota", "20M")
    assert refused.returncode == 1 and "quotas, which are off" in refused.stderr
    assert not session_dir(world, "q").exists()
    write_mib(world, "w", "blob", 6)
    assert listed(world)["w"]["exclusive"] is None  # a listing never walks a tree
    df = world.run("df", "--json", check=True)
    (entry,) = json.loads(df.stdout)["sessions"]
    assert entry["measured"] is True and entry["exclusive"] >= 6 << 20
    assert "measured now" in world.run("df", check=True).stderr
    again = world.run("-f", "init", "--no-packages", check=True)  # no flag: keeps what was chosen
    assert quotas.mode(world.code_root) == quotas.OFF, again.stdout
    world.run("-f", "delete", "-f", "w", check=True)


@needs_simple
def test_switching_back_to_simple_sets_existing_limits_again(world: HerodevEnv) -> None:
    world.run("-f", "create", "keep", "--quota", "20M", check=True)
    world.run("-f", "init", "--no-packages", "--quotas", "off", check=True)
    assert write_mib(world, "keep", "blob1", 25).count("rc=0") == 1  # no limit while off
    in_session(world, "keep", "rm -f blob1")
    back = world.run("-f", "init", "--no-packages", "--quotas", "simple", check=True)
    assert "off -> simple" in back.stdout and "from now on" in back.stdout
    out = write_mib(world, "keep", "blob2", 40)
    assert "rc=1" in out and "quota exceeded" in out.lower(), out
    assert listed(world)["keep"]["quota"] == 20 << 20
    world.run("-f", "delete", "-f", "keep", check=True)


def test_quota_setting_and_flag_are_validated(world: HerodevEnv) -> None:
    bad = world.run("-f", "init", "--no-packages", "--quotas", "some")
    assert bad.returncode == 2
    env_bad = world.run("check", HERODEV_QUOTAS="fast")
    assert env_bad.returncode == 2 and "invalid quota mode" in env_bad.stderr
