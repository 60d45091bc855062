"""push as a team uses git: new branches, several remotes, remotes the operator owns (a path,
file://, git daemon), git run as the code owner with the owner's own configuration, exit codes
and the plan (-n)."""

from __future__ import annotations

import json
import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    changes_json,
    clone_into_code,
    git,
    git_daemon,
    git_world,
    in_session,
    make_remote,
    session_git,
)

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def pw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-push-") as (world, owner):
        yield world, owner


def _repo(world: HerodevEnv, owner: pwd.struct_passwd, name: str, url: str | None = None) -> tuple[Path, str]:
    """A remote the operator owns and its clone in the code root (url: how the clone names it)."""
    remote = make_remote(world, name)
    relative = f"example.com/org/{name}"
    clone_into_code(world, owner, url or str(remote), relative)
    return remote, relative


def _new_branch(world: HerodevEnv, session: str, relative: str, branch: str, message: str) -> None:
    """What a developer does in the session: a feature branch with a commit, no upstream."""
    in_session(world, session, f"cd {relative} && git checkout -q -b {branch} && echo {branch} >> README")
    in_session(world, session, f"cd {relative} && git commit -q -am '{message}'")


def _push(world: HerodevEnv, session: str, *args: str, check: bool | int = True) -> tuple[list[dict], str]:
    result = world.run("push", "-s", session, "--json", *args, check=check)
    return [o for o in json.loads(result.stdout) if o["action"] == "push"], result.stderr


def _owned_by(path: Path, uid: int) -> bool:
    return all(p.lstat().st_uid == uid for p in [path, *path.rglob("*")])


def test_a_new_branch_goes_to_the_only_remote_and_its_upstream_is_recorded(
    pw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = pw
    remote, relative = _repo(world, owner, "solo")
    world.run("create", "nb", check=True)
    _new_branch(world, "nb", relative, "fix", "a fix")

    planned, _ = _push(world, "nb", "-n")  # the plan first: nothing moves
    assert [(o["status"], o["remote"], o["branch"]) for o in planned] == [("planned", "origin", "fix")]
    assert "upstream set to origin/fix" in planned[0]["detail"]
    assert git("branch", "--list", "fix", cwd=remote) == ""
    code_repo = world.code_root / relative
    assert git("config", "--get", "branch.fix.remote", cwd=code_repo, check=False) == ""
    logged = json.loads(world.run("log", "-s", "nb", "--json", check=True).stdout)
    assert "push" not in [e["command"] for e in logged]  # a plan is not an action: not audited

    rows, _ = _push(world, "nb")
    assert [(o["status"], o["remote"], o["branch"]) for o in rows] == [("done", "origin", "fix")]
    assert git("log", "-1", "--format=%s", "fix", cwd=remote) == "a fix"
    assert git("log", "-1", "--format=%s", "main", cwd=remote) == "initial"  # same name, not main
    # the upstream is recorded in the code root's repository and in the session's
    assert git("config", "branch.fix.remote", cwd=code_repo) == "origin"
    assert git("config", "branch.fix.merge", cwd=code_repo) == "refs/heads/fix"
    status = session_git(world, "nb", relative, "status", "-sb")
    assert status.splitlines()[0] == "## fix...origin/fix"
    # git ran as the operator, who owns the remote: what it wrote there is theirs, not root's
    assert _owned_by(remote, owner.pw_uid) and _owned_by(code_repo / ".git", owner.pw_uid)
    assert relative not in changes_json(world, "nb")  # pushed work is no longer work to lose
    again, _ = _push(world, "nb")
    assert again == [] or all(o["status"] == "skipped" and not o["left_behind"] for o in again)
    world.run("delete", "nb", check=True)  # no -f needed: nothing left behind


def test_several_remotes_and_no_upstream_the_row_says_to_pick_one(pw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = pw
    origin, relative = _repo(world, owner, "twin")
    fork = make_remote(world, "twin-fork")
    git("remote", "add", "fork", str(fork), cwd=world.code_root / relative)
    world.run("create", "two", check=True)
    _new_branch(world, "two", relative, "topic", "on a topic")

    rows, stderr = _push(world, "two", check=1)
    (row,) = rows
    assert row["status"] == "skipped" and row["left_behind"] is True
    assert "2 remotes (fork, origin)" in row["detail"] and "--remote" in row["detail"]
    assert f"{relative} (skipped)" in stderr
    assert git("branch", "--list", "topic", cwd=origin) == git("branch", "--list", "topic", cwd=fork) == ""

    rows, _ = _push(world, "two", "--remote", "fork")
    assert [(o["status"], o["remote"]) for o in rows] == [("done", "fork")]
    assert git("log", "-1", "--format=%s", "topic", cwd=fork) == "on a topic"
    assert git("branch", "--list", "topic", cwd=origin) == ""
    assert git("config", "branch.topic.remote", cwd=world.code_root / relative) == "fork"
    world.run("delete", "two", check=True)


@pytest.mark.parametrize("scheme", ["path", "file"])
def test_a_bare_remote_the_operator_owns_by_path_and_by_file_url(
    pw: tuple[HerodevEnv, pwd.struct_passwd], scheme: str
) -> None:
    world, owner = pw
    name = f"owned-{scheme}"
    remote = world.base / "remotes" / f"{name}.git"
    url = f"file://{remote}" if scheme == "file" else str(remote)
    remote, relative = _repo(world, owner, name, url)
    assert git("config", "remote.origin.url", cwd=world.code_root / relative) == url
    assert remote.stat().st_uid == owner.pw_uid
    session = f"own{scheme}"
    world.run("create", session, check=True)
    in_session(world, session, f"cd {relative} && echo more >> README && git commit -q -am 'on main'")
    rows, _ = _push(world, session)
    assert [(o["status"], o["branch"]) for o in rows] == [("done", "main")], rows
    assert git("log", "-1", "--format=%s", "main", cwd=remote) == "on main"
    assert _owned_by(remote, owner.pw_uid)  # root never wrote into the operator's repository
    world.run("delete", session, check=True)


def test_a_new_branch_over_git_daemon(pw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = pw
    served = world.base / "served"
    served.mkdir(exist_ok=True)
    seeded = make_remote(world, "daemon")
    seeded.rename(served / "daemon.git")
    with git_daemon(served) as url:
        relative = "127.0.0.1/daemon"
        clone_into_code(world, owner, f"{url}/daemon.git", relative)
        world.run("create", "net", check=True)
        _new_branch(world, "net", relative, "over-net", "over the network")
        rows, _ = _push(world, "net")
        assert [(o["status"], o["remote"], o["branch"]) for o in rows] == [("done", "origin", "over-net")]
        assert git("log", "-1", "--format=%s", "over-net", cwd=served / "daemon.git") == "over the network"
        assert git("config", "branch.over-net.merge", cwd=world.code_root / relative) == "refs/heads/over-net"
    world.run("delete", "net", check=True)


def test_exit_status_says_whether_every_commit_due_went_out(pw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = pw
    remote, relative = _repo(world, owner, "codes")
    world.run("create", "codes", check=True)
    nothing = world.run("push", "-s", "codes")
    assert nothing.returncode == 0 and "nothing to push" in nothing.stdout + nothing.stderr

    in_session(world, "codes", f"echo dirty >> {relative}/README")  # uncommitted only: no commit due
    dirty, _ = _push(world, "codes")
    assert [(o["status"], o["left_behind"]) for o in dirty] == [("skipped", False)]
    in_session(world, "codes", f"cd {relative} && git commit -q -am first")
    done, _ = _push(world, "codes")
    assert [o["status"] for o in done] == ["done"]

    # someone else moved the remote on: the push fails, the commit stays, exit 1
    other = world.base / "other-clone"
    git("clone", "-q", str(remote), str(other))
    (other / "other.txt").write_text("x\n")
    git("add", "-A", cwd=other)
    git("commit", "-q", "-m", "elsewhere", cwd=other)
    git("push", "-q", "origin", "main", cwd=other)
    in_session(world, "codes", f"cd {relative} && echo second >> README && git commit -q -am second")
    failed, stderr = _push(world, "codes", check=1)
    assert failed[0]["status"] == "failed" and "rejected (fetch first)" in failed[0]["detail"]
    assert f"{relative} (failed)" in stderr

    # a detached HEAD with a new commit: skipped, and that is work left behind too
    in_session(world, "codes", f"cd {relative} && git checkout -q --detach && echo d >> README && git commit -q -am d")
    detached, _ = _push(world, "codes", relative, check=1)
    assert detached[0]["status"] == "skipped" and detached[0]["left_behind"] is True
    world.run("delete", "-f", "codes", check=True)


def test_git_runs_as_the_code_owner_with_the_owners_own_configuration(
    pw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    """The owner's ~/.gitconfig applies (where credential helpers and url rewrites live): a
    remote name only the owner's configuration resolves is reached."""
    world, owner = pw
    real = make_remote(world, "aliased")
    relative = "example.com/org/aliased"
    clone_into_code(world, owner, str(real), relative)
    code_repo = world.code_root / relative
    git("remote", "set-url", "origin", "team:aliased", cwd=code_repo)
    home = Path(owner.pw_dir)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(f'[url "{world.base}/remotes/"]\n\tinsteadOf = team:\n')
    for path in (home, home / ".gitconfig"):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    try:
        world.run("create", "cfg", check=True)
        in_session(world, "cfg", f"cd {relative} && echo x >> README && git commit -q -am 'via the owner'")
        rows, _ = _push(world, "cfg", relative)
        assert [o["status"] for o in rows] == ["done"], rows
        assert git("log", "-1", "--format=%s", "main", cwd=real) == "via the owner"
        world.run("delete", "cfg", check=True)
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)


def test_the_ssh_agent_is_passed_on_only_when_the_owner_can_reach_it(
    pw: tuple[HerodevEnv, pwd.struct_passwd], monkeypatch: pytest.MonkeyPatch
) -> None:
    from herodev_shell.system import git as system_git

    world, owner = pw
    _, relative = _repo(world, owner, "agent")
    code_repo = world.code_root / relative
    agent_dir = world.base / "agent"
    agent_dir.mkdir()
    sock_path = agent_dir / "agent.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock_path))
        prefix, env = system_git.as_owner(code_repo)
        assert prefix[:3] == ["runuser", "-u", owner.pw_name] and env["HOME"] == owner.pw_dir
        assert env["SSH_AUTH_SOCK"] == ""  # root's agent: the owner cannot use it
        os.chown(agent_dir, owner.pw_uid, owner.pw_gid)
        os.chown(sock_path, owner.pw_uid, owner.pw_gid)
        _, env = system_git.as_owner(code_repo)
        assert env["SSH_AUTH_SOCK"] == str(sock_path)  # the operator's own agent (sudo -E)


def test_a_repository_only_in_the_session_goes_to_a_remote_the_operator_owns(
    pw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = pw
    empty = world.base / "remotes" / "brand-new.git"
    git("init", "-q", "--bare", str(empty))
    subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(empty)], check=True)
    world.run("create", "solo", check=True)
    in_session(world, "solo", "mkdir -p scratch/new && cd scratch/new && git init -q -b main && echo a > a")
    in_session(world, "solo", "cd scratch/new && git add a && git commit -q -m 'born in the session'")
    rows, _ = _push(world, "solo", "--remote", f"file://{empty}", "scratch/new")
    assert [o["status"] for o in rows] == ["done"], rows
    assert git("log", "-1", "--format=%s", "main", cwd=empty) == "born in the session"
    assert _owned_by(empty, owner.pw_uid)  # pushed as the operator, not as root
    assert not list(Path("/tmp").glob("herodev-staging-*"))  # the staging repository is gone
    world.run("delete", "-f", "solo", check=True)


def test_git_never_falls_back_to_root_for_a_repository_whose_owner_has_no_account(tmp_path: Path) -> None:
    from herodev_shell.errors import HerodevError
    from herodev_shell.system import git as system_git

    repo = tmp_path / "orphan"
    (repo / ".git").mkdir(parents=True)
    taken = {entry.pw_uid for entry in pwd.getpwall()}
    uid = next(u for u in range(60100, 65000) if u not in taken)
    os.chown(repo / ".git", uid, uid)
    with pytest.raises(HerodevError, match=f"uid {uid}, which has no account"):
        system_git.as_owner(repo)
