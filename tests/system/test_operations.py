"""Operations for real: the audit log, disk usage and quotas, nested subvolumes, rootless podman."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Iterator

import pytest

from herodev_shell.system.subids import SUBGID, SUBUID, ranges_of
from tests.conftest import HerodevEnv
from tests.system.gitworld import git_world, in_session, session_dir

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def world() -> Iterator[HerodevEnv]:
    with git_world("herodev-ops-") as (env, _owner):
        yield env


def log_entries(world: HerodevEnv, *args: str) -> list[dict[str, object]]:
    return json.loads(world.run("log", "--json", *args, check=True).stdout)


def test_audit_log_records_who_did_what_and_how_it_ended(world: HerodevEnv) -> None:
    world.run("-f", "create", "aud", check=True, SUDO_USER="alice")
    missing = world.run("-f", "delete", "nosuch", SUDO_USER="bob")
    assert missing.returncode == 1
    world.run("enter", "aud", "--", "true", check=True)
    world.run("list", check=True)  # reads are not audited
    entries = log_entries(world)
    assert entries[0]["command"] == "init" and entries[0]["outcome"] == "ok"
    assert entries[0]["detail"]["steps"]["quotas"] == "done"
    mine = [(e["user"], e["command"], e["session"], e["outcome"]) for e in entries[1:]]
    assert mine == [
        ("alice", "create", "aud", "ok"),
        ("bob", "delete", "nosuch", "failed"),
        ("root", "enter", "aud", "ok"),
    ]
    assert "no session named" in entries[2]["error"]
    assert all(e["time"].endswith("Z") for e in entries)
    audit = world.base / "audit.jsonl"
    assert audit.stat().st_mode & 0o777 == 0o640
    assert all(json.loads(line) for line in audit.read_text().splitlines())  # one JSON document per line
    assert [e["command"] for e in log_entries(world, "-s", "aud")] == ["create", "enter"]
    assert len(log_entries(world, "--last", "1")) == 1


def test_an_unwritable_audit_log_warns_but_never_hides_the_result(world: HerodevEnv) -> None:
    blocked = world.base / "not-a-dir"
    blocked.write_text("")
    result = world.run("-f", "create", "noaudit", HERODEV_AUDIT_LOG=str(blocked / "audit.jsonl"))
    assert result.returncode == 0, result.stderr
    assert "warning: audit log" in result.stderr
    assert "created session noaudit" in result.stdout
    failed = world.run("-f", "create", "noaudit", HERODEV_AUDIT_LOG=str(blocked / "audit.jsonl"))
    assert failed.returncode == 1 and "already exists" in failed.stderr
    world.run("-f", "delete", "noaudit", check=True)


def test_quota_stops_one_session_and_no_one_else(world: HerodevEnv) -> None:
    world.run("-f", "create", "small", "--quota", "20M", check=True)
    world.run("-f", "create", "big", check=True)
    code = world.code_root
    out = world.run(
        "enter", "small", "--", "sh", "-c", f"dd if=/dev/urandom of={code}/blob bs=1M count=40 2>&1; echo rc=$?"
    )
    assert "rc=1" in out.stdout and "quota exceeded" in out.stdout.lower(), out.stdout  # EDQUOT inside
    other = world.run(
        "enter", "big", "--", "sh", "-c", f"dd if=/dev/urandom of={code}/blob bs=1M count=30 2>&1; echo rc=$?"
    )
    assert "rc=0" in other.stdout, other.stdout
    host = subprocess.run(["dd", "if=/dev/zero", f"of={code}/hostblob", "bs=1M", "count=30"], capture_output=True)
    assert host.returncode == 0
    (code / "hostblob").unlink()
    subprocess.run(["sync"], check=True)
    rows = {r["name"]: r for r in json.loads(world.run("list", "--json", check=True).stdout)}
    assert rows["small"]["quota"] == 20 << 20
    assert rows["small"]["exclusive"] <= 21 << 20
    assert rows["big"]["exclusive"] >= 30 << 20 and rows["big"]["quota"] is None
    df = json.loads(world.run("df", "--json", check=True).stdout)
    assert df["quotas"] is True and df["size"] > df["free"] > 0
    sizes = {s["name"]: s["exclusive"] for s in df["sessions"]}
    assert df["sessions_exclusive"] == sum(sizes.values())
    assert "20.0M" in world.run("info", "small", check=True).stdout
    bad = world.run("-f", "create", "badq", "--quota", "lots")
    assert bad.returncode == 2 and "invalid size" in bad.stderr
    assert not (world.sessions_dir / world.user("badq")).exists()
    world.run("-f", "delete", "small", check=True)
    world.run("-f", "delete", "big", check=True)


def test_delete_removes_nested_subvolumes_made_inside(world: HerodevEnv) -> None:
    world.run("-f", "create", "nest", check=True)
    in_session(
        world, "nest", "btrfs subvolume create inner >/dev/null && btrfs subvolume create inner/deeper >/dev/null"
    )
    assert (session_dir(world, "nest") / "inner" / "deeper").stat().st_ino == 256
    plain = subprocess.run(
        ["btrfs", "subvolume", "delete", str(session_dir(world, "nest"))], capture_output=True, text=True
    )
    assert plain.returncode != 0  # what herodev must handle itself
    world.run("-f", "delete", "nest", check=True)
    assert not session_dir(world, "nest").exists()
    assert not [p for p in os.listdir(world.sessions_dir) if p.startswith(world.user("nest"))]


def test_session_users_get_subordinate_ids_and_rootless_podman_works(world: HerodevEnv) -> None:
    world.run("-f", "create", "pod", check=True)
    user = pwd.getpwnam(world.user("pod"))
    mine = ranges_of(user.pw_name, user.pw_uid, SUBUID)
    assert mine and ranges_of(user.pw_name, user.pw_uid, SUBGID)
    out = world.run("enter", "pod", "--", "sh", "-c", "podman unshare cat /proc/self/uid_map", check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    assert ["0", str(user.pw_uid), "1"] in rows  # root in podman's namespace is the session user
    assert any(row[1] == str(mine[0].start) for row in rows)  # and the subordinate range is mapped
    info = world.run("enter", "pod", "--", "sh", "-c", "podman info 2>/dev/null | grep -i rootless", check=True)
    assert "true" in info.stdout
    world.run("-f", "delete", "pod", check=True)
    assert not ranges_of(user.pw_name, user.pw_uid, SUBUID)
