"""kill -9 at every step of create and delete, then `repair`.

The promise: after repair the system is consistent (every session whole, or gone without a
trace: no user, snapshot, base, metadata or scan left) and no work is lost: another
session's uncommitted files, the code root, and a half-deleted session's files while its
snapshot exists.
"""

from __future__ import annotations

import json
import pwd
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

CREATE_STEPS = ["create:after-user", "create:after-snapshot", "create:after-metadata"]
DELETE_STEPS = [
    "delete:after-processes",
    "delete:after-scan",
    "delete:after-snapshot",
    "delete:after-base",
    "delete:after-user",
]
KILLED = -9  # subprocess's returncode for a process ended by SIGKILL


def enter(world: HerodevEnv, name: str, script: str) -> None:
    world.run("enter", name, "--", "sh", "-c", script, check=True)


def write_work(world: HerodevEnv, name: str, text: str) -> dict[Path, str]:
    """Uncommitted work made by the session user inside the session; where it lands on disk."""
    enter(world, name, f"printf '{text}' > {world.code_root}/org/repo/work.txt && mkdir -p {world.code_root}/new")
    snapshot = world.sessions_dir / world.user(name)
    return {snapshot / "org" / "repo" / "work.txt": text}


@pytest.fixture(scope="module")
def keeper(rworld: HerodevEnv) -> dict[Path, str]:
    """A session with uncommitted work that must survive every crash of its neighbours."""
    rworld.run("-f", "create", "keeper", check=True)
    kept = write_work(rworld, "keeper", "keep me\n")
    kept[rworld.code_root / "org" / "repo" / "file"] = "original\n"
    return kept


def session_pieces(world: HerodevEnv, name: str) -> dict[str, bool]:
    user = world.user(name)
    try:
        pwd.getpwnam(user)
        has_user = True
    except KeyError:
        has_user = False
    return {
        "user": has_user,
        "snapshot": (world.sessions_dir / user).exists(),
        "base": (world.sessions_dir / f"{user}.base").exists(),
        "metadata": (world.sessions_dir / f"{user}.json").exists(),
        "scan": (world.sessions_dir / f"{user}.scan").exists(),
    }


def assert_consistent(world: HerodevEnv, name: str) -> bool:
    """Whole (True) or gone (False), and `check` finds nothing left over anywhere."""
    pieces = session_pieces(world, name)
    whole = pieces["user"] and pieces["snapshot"] and pieces["base"] and pieces["metadata"] and not pieces["scan"]
    gone = not any(pieces.values())
    assert whole or gone, f"session {name} is half there after repair: {pieces}"
    rows = json.loads(world.run("check", "--json").stdout)
    leftovers = [r for r in rows if r["name"] in ("leftovers", "sessions") and r["status"] != "pass"]
    assert not leftovers, leftovers
    listed = {s["name"]: s for s in json.loads(world.run("list", "--json", check=True).stdout)}
    assert (name in listed) == whole
    for session in listed.values():
        assert not session["problems"], session
    return whole


@pytest.mark.parametrize("step", CREATE_STEPS)
def test_kill_during_create_then_repair(rworld: HerodevEnv, keeper: dict[Path, str], tally, step: str) -> None:
    name = "c" + step.split("-")[-1]
    killed = rworld.run("-f", "create", name, HERODEV_KILL_AT=step)
    assert killed.returncode == KILLED, killed.stderr
    tally.fault()
    repaired = rworld.run("repair", "--json", check=True)
    assert all(r["status"] == "fixed" for r in json.loads(repaired.stdout))
    whole = assert_consistent(rworld, name)
    tally.check_kept(keeper)
    if whole:  # a session repair made whole works like any other
        kept = write_work(rworld, name, "after repair\n")
        tally.check_kept(kept)
        rworld.run("-f", "delete", name, check=True)
    assert not any(session_pieces(rworld, name).values())


@pytest.mark.parametrize("step", DELETE_STEPS)
def test_kill_during_delete_then_repair(rworld: HerodevEnv, keeper: dict[Path, str], tally, step: str) -> None:
    name = "d" + step.split("-")[-1]
    rworld.run("-f", "create", name, check=True)
    work = write_work(rworld, name, "thrown away only when the snapshot goes\n")
    killed = rworld.run("-f", "delete", name, HERODEV_KILL_AT=step)
    assert killed.returncode == KILLED, killed.stderr
    tally.fault()
    snapshot_left = (rworld.sessions_dir / rworld.user(name)).exists()
    rworld.run("repair", check=True)
    whole = assert_consistent(rworld, name)
    assert whole == snapshot_left  # repair never throws away a snapshot, and finishes the rest
    tally.check_kept(keeper)
    if whole:
        tally.check_kept(work)
        rworld.run("-f", "delete", name, check=True)


def test_leftover_scan_mount_and_lock_are_repaired(rworld: HerodevEnv, keeper: dict[Path, str], tally) -> None:
    """What a change scan, an enter and a lock holder leave when killed, made by hand."""
    import subprocess

    user = rworld.user("keeper")
    scan = rworld.sessions_dir / f"{user}.scan"
    subprocess.run(["btrfs", "subvolume", "snapshot", "-r", str(rworld.sessions_dir / user), str(scan)], check=True)
    mountpoint = rworld.base / "leftover-mount"
    mountpoint.mkdir()
    subprocess.run(["mount", "--bind", str(rworld.sessions_dir / user), str(mountpoint)], check=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (rworld.sessions_dir / ".lock").write_text(f"{dead.pid}\n")
    tally.fault(3)
    rows = json.loads(rworld.run("check", "--json").stdout)
    found = " ".join(r["detail"] for r in rows if r["name"] == "leftovers")
    assert "scan snapshot" in found and "mount" in found and "stale lock" in found
    plan = json.loads(rworld.run("-n", "repair", "--json", check=True).stdout)
    assert plan and all(r["status"] == "planned" for r in plan)
    assert scan.exists() and str(mountpoint) in Path("/proc/self/mountinfo").read_text()  # -n changed nothing
    result = json.loads(rworld.run("repair", "--json", check=True).stdout)
    assert {r["kind"] for r in result} >= {"leftover scan snapshot", "session mount left", "stale lock"}
    assert not scan.exists()
    assert str(mountpoint) not in Path("/proc/self/mountinfo").read_text()
    assert (rworld.sessions_dir / ".lock").read_text() == ""
    assert_consistent(rworld, "keeper")
    tally.check_kept(keeper)
