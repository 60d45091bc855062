"""checkpoint, checkpoints, rewind and fork on real btrfs, real users and real bare remotes."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    changes_json,
    clone_into_code,
    git,
    git_world,
    in_session,
    make_remote,
    session_dir,
    session_git,
)

pytestmark = pytest.mark.system

REPO = "example.com/org/app"


@pytest.fixture(scope="module")
def gw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-checkpoints-") as (world, owner):
        remote = make_remote(world, "app", {"README": "hello\n"})
        clone_into_code(world, owner, str(remote), REPO)
        yield world, owner


def checkpoints_of(world: HerodevEnv, name: str) -> list[dict[str, object]]:
    return json.loads(world.run("checkpoints", name, "--json", check=True).stdout)


def pieces(world: HerodevEnv, name: str) -> list[str]:
    user = world.user(name)
    return sorted(p.name for p in world.sessions_dir.iterdir() if p.name.split(".")[0] == user)


def has_process(uid: int) -> bool:
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                return True
        except FileNotFoundError:
            continue  # gone since the listing
    return False


def read_in_session(world: HerodevEnv, name: str, relative: str) -> str:
    return in_session(world, name, f"cat {relative}")


def test_checkpoint_list_compare_delete(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    world.run("create", "cp", check=True)
    in_session(world, "cp", f"echo first >> {REPO}/README")
    one = json.loads(world.run("checkpoint", "cp", "-m", "after first", "--json", check=True).stdout)
    assert one["id"] == "1" and one["label"] == "after first" and one["kind"] == "manual"
    in_session(world, "cp", f"echo new > {REPO}/second.txt")
    world.run("checkpoint", "cp", check=True)
    listed = checkpoints_of(world, "cp")
    assert [(c["id"], c["label"]) for c in listed] == [("1", "after first"), ("2", "")]
    # the checkpoint is read-only and holds the state of its moment
    checkpoint_one = world.sessions_dir / f"{world.user('cp')}.checkpoints" / "1"
    assert (checkpoint_one / REPO / "README").read_text() == "hello\nfirst\n"
    assert not (checkpoint_one / REPO / "second.txt").exists()
    with pytest.raises(OSError):
        (checkpoint_one / "x").write_text("x")

    # base -> checkpoint 1: README modified; 1 -> 2: only the new file; 2 -> now: nothing
    assert changes_json(world, "cp", "--to", "1")[REPO]["modified"] == 1
    assert changes_json(world, "cp", "--to", "1")[REPO]["touched"] == [f"{REPO}/README"]
    between = changes_json(world, "cp", "--from", "1", "--to", "2")[REPO]
    assert between["touched"] == [f"{REPO}/second.txt"]
    assert (between["modified"], between["untracked"]) == (1, 1)  # its state at checkpoint 2
    assert changes_json(world, "cp", "--from", "2") == {}
    table = world.run("changes", "-s", "cp", "--from", "1", "--to", "2", check=True).stdout
    assert f"changed between: {REPO}/second.txt" in table
    missing = world.run("changes", "-s", "cp", "--from", "7")
    assert missing.returncode == 1 and "no checkpoint 7" in missing.stderr

    deleted = world.run("checkpoint", "--delete", "cp", "1", check=True)
    assert "deleted checkpoint 1" in deleted.stdout
    assert [c["id"] for c in checkpoints_of(world, "cp")] == ["2"]
    # ids are never handed out twice
    assert json.loads(world.run("checkpoint", "cp", "--json", check=True).stdout)["id"] == "3"
    bad = world.run("checkpoint", "--delete", "cp", "../cp")
    assert bad.returncode == 2 and "invalid checkpoint id" in bad.stderr

    # delete refuses while a checkpoint holds work, even once the session itself holds none
    in_session(world, "cp", f"cd {REPO} && git checkout -q -- . && rm second.txt")
    assert changes_json(world, "cp") == {}
    refused = world.run("delete", "cp")
    assert refused.returncode == 1 and "checkpoint 2 holds" in refused.stderr
    gone = world.run("delete", "-f", "cp", "--json", check=True)
    report = json.loads(gone.stdout)
    assert report["checkpoints"] == ["2", "3"]
    assert pieces(world, "cp") == []


def test_checkpoint_faults_leave_nothing(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    world.run("create", "cpfault", check=True)
    try:
        for step in ("checkpoint:after-snapshot", "checkpoint:after-metadata"):
            failed = world.run("checkpoint", "cpfault", HERODEV_FAIL_AT=step)
            assert failed.returncode == 1 and "injected failure" in failed.stderr
            assert checkpoints_of(world, "cpfault") == []
            left = os.listdir(world.sessions_dir / f"{world.user('cpfault')}.checkpoints")
            assert [e for e in left if e != ".last"] == []
    finally:
        world.run("delete", "-f", "cpfault")


def test_rewind_keeps_the_current_state_and_refuses_running_processes(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    world.run("create", "rw", check=True)
    try:
        in_session(world, "rw", f"echo kept >> {REPO}/README")
        world.run("checkpoint", "rw", "-m", "good", check=True)
        in_session(world, "rw", f"echo broken > {REPO}/README && echo junk > {REPO}/junk")

        sleeper = subprocess.Popen(
            [sys.executable, "-m", "herodev_shell", "enter", "rw", "--", "sleep", "300"],
            env=world.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            uid = pwd.getpwnam(world.user("rw")).pw_uid
            deadline = time.monotonic() + 30
            while not has_process(uid):
                assert time.monotonic() < deadline, "the session's sleep never started"
                time.sleep(0.1)
            refused = world.run("rewind", "rw", "1")
            assert refused.returncode == 1
            assert "process(es)" in refused.stderr and "rewind -f" in refused.stderr
            assert "checkpoint either way" in refused.stderr
            assert read_in_session(world, "rw", f"{REPO}/README") == "broken\n"  # nothing changed
            assert [c["id"] for c in checkpoints_of(world, "rw")] == ["1"]

            # a failure halfway puts everything back
            failed = world.run("rewind", "-f", "rw", "1", HERODEV_FAIL_AT="rewind:after-move")
            assert failed.returncode == 1
            assert (session_dir(world, "rw") / REPO / "README").read_text() == "broken\n"
            assert sorted(os.listdir(world.sessions_dir / f"{world.user('rw')}.checkpoints")) == [
                ".last",
                "1",
                "1.json",
                "2",
                "2.json",
            ]

            done = json.loads(world.run("rewind", "-f", "rw", "1", "--json", check=True).stdout)
            sleeper.wait(timeout=30)
        finally:
            sleeper.kill()
            sleeper.wait()
        assert done["safety"]["kind"] == "safety" and done["safety"]["id"] == "3"
        assert read_in_session(world, "rw", f"{REPO}/README") == "hello\nkept\n"
        assert in_session(world, "rw", f"test -e {REPO}/junk && echo yes || echo no") == "no\n"
        # the state rewind replaced is in the safety checkpoint: rewinding to it brings it back
        saved = changes_json(world, "rw", "--from", "1", "--to", "3")[REPO]
        assert (saved["modified"], saved["untracked"]) == (1, 1)
        world.run("rewind", "rw", "3", check=True)
        assert read_in_session(world, "rw", f"{REPO}/README") == "broken\n"
        assert [c["kind"] for c in checkpoints_of(world, "rw")] == ["manual", "safety", "safety", "safety"]
        assert not (world.sessions_dir / f"{world.user('rw')}.checkpoints" / ".rewind-old").exists()
        assert changes_json(world, "rw")[REPO]["untracked"] == 1  # changes still work against the base
    finally:
        world.run("delete", "-f", "rw")


def test_fork_then_push_and_fork_from_a_checkpoint(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = gw
    remote = make_remote(world, "forked", {"README": "start\n"})
    repo = "example.com/org/forked"
    clone_into_code(world, owner, str(remote), repo)
    world.run("create", "parent", check=True)
    try:
        in_session(world, "parent", f"echo parent >> {repo}/README")
        session_git(world, "parent", repo, "commit", "-qam", "parent work")
        world.run("checkpoint", "parent", "-m", "one commit", check=True)
        in_session(world, "parent", f"echo later >> {repo}/README")

        forked = json.loads(world.run("fork", "parent", "child", "--json", check=True).stdout)
        assert forked["name"] == "child" and forked["user"] == world.user("child")
        assert forked["git_name"] and forked["git_email"]  # a git identity of its own, as create gives
        listed = {r["name"]: r for r in json.loads(world.run("list", "--json", check=True).stdout)}
        assert listed["child"]["changed"] is None  # untouched, yet it carries the parent's work
        assert pwd.getpwnam(world.user("child"))  # a user of its own
        # the fork's user owns the work (idmapped), and sees the parent's uncommitted change too
        assert in_session(world, "child", f"stat -c %U {repo}/README") == world.user("child") + "\n"
        assert read_in_session(world, "child", f"{repo}/README") == "start\nparent\nlater\n"
        session_git(world, "child", repo, "commit", "-qam", "child work")
        child = changes_json(world, "child")[repo]
        assert child["commits"] == 2  # the parent's commit and its own, against the same base

        pushed = json.loads(world.run("push", "-s", "child", "--json", check=True).stdout)
        assert [(o["path"], o["status"]) for o in pushed] == [(repo, "done")]
        assert git("log", "-3", "--format=%s", "main", cwd=remote).splitlines() == [
            "child work",
            "parent work",
            "initial",
        ]
        # the parent is untouched by its fork
        assert read_in_session(world, "parent", f"{repo}/README") == "start\nparent\nlater\n"
        assert changes_json(world, "parent")[repo]["modified"] == 1

        from_cp = world.run("fork", "parent", "early", "--from", "1", check=True)
        assert "checkpoint 1 of parent" in from_cp.stdout
        assert read_in_session(world, "early", f"{repo}/README") == "start\nparent\n"

        exists = world.run("fork", "parent", "child")
        assert exists.returncode == 1 and "already exists" in exists.stderr
        failed = world.run("fork", "parent", "broken", HERODEV_FAIL_AT="fork:after-metadata")
        assert failed.returncode == 1 and "every earlier step was undone" in failed.stderr
        assert pieces(world, "broken") == []
        with pytest.raises(KeyError):
            pwd.getpwnam(world.user("broken"))
        missing = world.run("fork", "parent", "x2", "--from", "9")
        assert missing.returncode == 1 and "no checkpoint 9" in missing.stderr
        assert pieces(world, "x2") == []
    finally:
        for name in ("early", "child", "parent"):
            world.run("delete", "-f", name)


def test_repair_mends_what_a_killed_checkpoint_or_rewind_left(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    world.run("create", "crash", check=True)
    where = world.sessions_dir / f"{world.user('crash')}.checkpoints"
    try:
        in_session(world, "crash", f"echo mine >> {REPO}/README")
        killed = world.run("checkpoint", "crash", HERODEV_KILL_AT="checkpoint:after-metadata")
        assert killed.returncode == -9
        assert (where / "1.json").exists() and not (where / "1").exists()
        assert checkpoints_of(world, "crash") == []  # a half-made checkpoint is not listed
        world.run("checkpoint", "crash", "-m", "good", check=True)  # id 2: 1 is never reused
        world.run("checkpoint", "crash", check=True)
        killed = world.run("checkpoint", "--delete", "crash", "3", HERODEV_KILL_AT="checkpoint-delete:after-metadata")
        assert killed.returncode == -9
        assert (where / "3").is_dir() and not (where / "3.json").exists()
        assert [c["id"] for c in checkpoints_of(world, "crash")] == ["2"]

        # killed between rewind's two renames: the session's snapshot is parked aside
        killed = world.run("rewind", "crash", "2", HERODEV_KILL_AT="rewind:after-move")
        assert killed.returncode == -9
        assert not session_dir(world, "crash").exists() and (where / ".rewind-old").is_dir()
        refused = world.run("rewind", "crash", "2")
        assert refused.returncode == 1 and "repair" in refused.stderr
        repaired = json.loads(world.run("repair", "--json", check=True).stdout)
        kinds = {r["kind"] for r in repaired if r["session"] == "crash"}
        assert kinds == {
            "rewind cut short",
            "leftover rewind snapshot",
            "half-made checkpoint",
            "checkpoint metadata without snapshot",
        }
        assert all(r["status"] == "fixed" for r in repaired if r["session"] == "crash")
        assert read_in_session(world, "crash", f"{REPO}/README") == "hello\nmine\n"
        assert sorted(os.listdir(where)) == [".last", "2", "2.json", "4", "4.json"]  # 4: the rewind's safety one
        assert world.run("repair", "--json", check=True).stdout.strip() == "[]"
    finally:
        world.run("delete", "-f", "crash")
    assert not where.exists()


def test_prune_keeps_a_session_whose_checkpoint_holds_work(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = gw
    for name in ("heldcp", "emptycp"):
        world.run("create", name, check=True)
    try:
        in_session(world, "heldcp", f"echo work > {REPO}/new.txt")
        world.run("checkpoint", "heldcp", check=True)
        in_session(world, "heldcp", f"rm {REPO}/new.txt")  # the session itself holds nothing now
        world.run("checkpoint", "emptycp", check=True)  # a checkpoint with no work in it
        for name in ("heldcp", "emptycp"):
            meta_path = world.sessions_dir / f"{world.user(name)}.json"
            meta = json.loads(meta_path.read_text())
            meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 10 * 86400))
            meta.pop("last_entered", None)
            meta_path.write_text(json.dumps(meta))
        log = {"HERODEV_AUDIT_LOG": str(world.base / "prune-cp-audit.jsonl")}
        done = {o["name"]: o for o in json.loads(world.run("prune", "--json", check=True, **log).stdout)}
        assert done["heldcp"]["action"] == "kept" and "checkpoint 1 holds" in done["heldcp"]["reason"]
        assert done["emptycp"]["action"] == "deleted"
        assert pieces(world, "emptycp") == []
    finally:
        for name in ("heldcp", "emptycp"):
            world.run("delete", "-f", name)


def test_a_checkpoint_of_pushed_work_holds_nothing_to_lose(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """Work committed and pushed before the checkpoint is not held by it: delete without -f
    goes ahead (it used to refuse with 'checkpoint 1 holds example.com/org/pushed: ;')."""
    world, owner = gw
    remote = make_remote(world, "pushed", {"README": "start\n"})
    repo = "example.com/org/pushed"
    clone_into_code(world, owner, str(remote), repo)
    world.run("create", "pushedcp", check=True)
    try:
        in_session(world, "pushedcp", f"echo more >> {repo}/README")
        session_git(world, "pushedcp", repo, "commit", "-qam", "pushed work")
        world.run("push", "-s", "pushedcp", check=True)
        world.run("checkpoint", "pushedcp", check=True)
        deleted = world.run("delete", "pushedcp")
        assert deleted.returncode == 0, deleted.stderr
        assert pieces(world, "pushedcp") == []
    finally:
        world.run("delete", "-f", "pushedcp")


def test_checkpoint_and_setup_act_on_the_session_use_chose(gw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """As info, checkpoints, limit and enter do: `use X; checkpoint` needs no NAME again (it
    was a usage error), and `checkpoint --delete ID` takes the id alone."""
    world, _ = gw
    world.run("create", "used", check=True)
    try:
        words = "use used; checkpoint -m via-use; checkpoint --delete 1; checkpoint; setup"
        script = world.run("-c", words, check=True)
        assert "checkpoint 1 of used: via-use" in script.stdout and "deleted checkpoint 1 of used" in script.stdout
        assert [c["id"] for c in checkpoints_of(world, "used")] == ["2"]
        assert world.run("checkpoint").returncode == 2  # one-shot, nothing chosen: a usage error still
    finally:
        world.run("delete", "-f", "used")
