"""kill -9 inside `commit`, `push` and `reorganize`, then `repair`: nothing committed or
uncommitted is lost, the session's git still works as its user, and running the command
again finishes the job."""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    clone_into_code,
    git,
    git_world,
    make_remote,
    session_dir,
    session_git,
)

pytestmark = pytest.mark.system
KILLED = -9
APP = "example.com/org/app"


@pytest.fixture(scope="module")
def gworld() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd, Path]]:
    with git_world("herodev-relgit-") as (world, owner):
        remote = make_remote(world, "app", {"README": "app\n"})
        clone_into_code(world, owner, str(remote), APP)
        yield world, owner, remote


def assert_no_leftovers(world: HerodevEnv) -> None:
    rows = json.loads(world.run("check", "--json").stdout)
    bad = [r for r in rows if r["name"] in ("leftovers", "sessions") and r["status"] != "pass"]
    assert not bad, bad


def test_kill_during_commit_then_repair(gworld, tally) -> None:
    world, _, _ = gworld
    world.run("-f", "create", "kc", check=True)
    session_git(world, "kc", APP, "status")  # the user's git works before
    repo = session_dir(world, "kc") / APP
    from tests.system.gitworld import in_session

    in_session(world, "kc", f"echo changed > {APP}/README && echo new > {APP}/added.txt")
    head_before = git("rev-parse", "HEAD", cwd=repo)
    killed = world.run("commit", "-s", "kc", "-m", "work", HERODEV_KILL_AT="commit:after-commit")
    assert killed.returncode == KILLED, killed.stderr
    tally.fault()
    world.run("repair", check=True)
    assert_no_leftovers(world)
    tally.check_kept({repo / "README": "changed\n", repo / "added.txt": "new\n"})
    # killed after the commit was written: the work is in that commit (the files stay too, above)
    assert git("rev-parse", "HEAD", cwd=repo) != head_before
    assert git("show", "HEAD:added.txt", cwd=repo) == "new"
    assert git("show", "HEAD:README", cwd=repo) == "changed"
    # the session user's own git still works on that repository (nothing root-owned left in its way)
    session_git(world, "kc", APP, "add", "-A")
    session_git(world, "kc", APP, "commit", "-q", "--allow-empty", "-m", "by the user after the crash")
    assert "by the user" in git("log", "-1", "--format=%s", cwd=repo)
    world.run("-f", "delete", "kc", check=True)


@pytest.mark.parametrize("step", ["push:after-fetch", "push:after-push"])
def test_kill_during_push_then_repair(gworld, tally, step: str) -> None:
    world, _, remote = gworld
    name = "kp" + step.split("-")[-1][:4]
    world.run("-f", "create", name, check=True)
    session_git(world, name, APP, "commit", "-q", "--allow-empty", "-m", f"to push {step}")
    commit = git("rev-parse", "HEAD", cwd=session_dir(world, name) / APP)
    killed = world.run("push", "-s", name, HERODEV_KILL_AT=step)
    assert killed.returncode == KILLED, killed.stderr
    tally.fault()
    world.run("repair", check=True)
    assert_no_leftovers(world)
    trusted = world.code_root / APP
    assert git("for-each-ref", "refs/herodev", cwd=trusted) == ""  # no half-pushed refs left behind
    owner_uid = (trusted / ".git").stat().st_uid
    stray = [p for p in (trusted / ".git").rglob("*") if p.lstat().st_uid != owner_uid]
    assert not stray, stray  # nothing root-owned left in the owner's repository
    # the commit is in the session still, and a second push delivers it
    assert git("cat-file", "-t", commit, cwd=session_dir(world, name) / APP) == "commit"
    world.run("push", "-s", name, check=True)
    assert git("cat-file", "-t", commit, cwd=remote) == "commit"
    tally.check_kept({session_dir(world, name) / APP / "README": "app\n"})
    # the code root's clone follows the remote again for the next test
    git("pull", "-q", "--ff-only", cwd=trusted)
    world.run("-f", "delete", name, check=True)


@pytest.mark.parametrize("step", ["reorganize:after-parents", "reorganize:after-move"])
def test_kill_during_reorganize_then_repair(gworld, tally, step: str) -> None:
    world, owner, remote = gworld
    misplaced = clone_into_code(world, owner, str(remote), f"misplaced-{step[-4:]}/tool")
    git("remote", "set-url", "origin", f"https://git.example.org/team/tool{step[-4:]}.git", cwd=misplaced)
    (misplaced / "local-only.txt").write_text("uncommitted\n")
    target = world.code_root / "git.example.org" / "team" / f"tool{step[-4:]}"
    killed = world.run("-f", "reorganize", HERODEV_KILL_AT=step)
    assert killed.returncode == KILLED, killed.stderr
    tally.fault()
    world.run("repair", check=True)
    assert_no_leftovers(world)
    where = [p for p in (misplaced, target) if (p / ".git").exists()]
    assert len(where) == 1, where  # in one place, never zero, never two
    tally.check_kept({where[0] / "local-only.txt": "uncommitted\n", where[0] / "README": "app\n"})
    world.run("-f", "reorganize", check=True)
    tally.check_kept({target / "local-only.txt": "uncommitted\n"})
    assert not misplaced.exists()
