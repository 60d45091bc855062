"""A new branch from a hostile session: its repository config must not steer where or how push goes.

push chooses the remote for a branch without an upstream in the code root (the only remote),
and records that upstream in the code root's repository and the session's. The session plants
everything git would otherwise obey on that path: its own upstream for the branch (aimed at
`main`, or at a remote of its own), pushurl, insteadOf/pushInsteadOf, a push refspec,
core.sshCommand, a credential helper and hooks. None may run, redirect the push, rename the
branch on the remote, or leak into the code root's configuration.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv
from tests.security.test_repo_config import arm
from tests.system.gitworld import clone_into_code, git, git_world, in_session, make_remote, session_dir

pytestmark = pytest.mark.system


@pytest.fixture
def sw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-security-push-") as (world, owner):
        yield world, owner


def test_a_session_cannot_steer_the_push_of_a_new_branch(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = sw
    evil = make_remote(world, "evil")
    trusted = {name: make_remote(world, f"trusted-{name}") for name in ("one", "two")}
    for name, remote in trusted.items():
        clone_into_code(world, owner, str(remote), f"example.com/org/{name}")
    markers = world.base / "markers"
    markers.mkdir()
    markers.chmod(0o777)
    world.run("create", "mallory", check=True)
    for name in trusted:
        in_session(world, "mallory", f"cd example.com/org/{name} && git checkout -q -b fix-{name}")
        in_session(
            world, "mallory", f"cd example.com/org/{name} && echo owned >> README && git commit -q -am 'fix {name}'"
        )
    root = session_dir(world, "mallory")
    for name, remote in trusted.items():
        repo = root / f"example.com/org/{name}"
        arm(repo, markers, evil, str(remote))

        def config(key: str, value: str, repo: os.PathLike[str] = repo) -> None:
            git("config", "--file", f"{repo}/.git/config", key, value)

        config("remote.origin.pushurl", str(evil))
        config(f"url.{evil}.pushInsteadOf", str(remote))
        config("remote.origin.push", "refs/heads/*:refs/heads/hijacked")
        config("push.default", "upstream")
        config("remote.evil.url", str(evil))
        config("remote.evil.fetch", "+refs/heads/*:refs/remotes/evil/*")
        # one: its own upstream aims the new branch at main; two: at a remote of its own
        config(f"branch.fix-{name}.remote", "origin" if name == "one" else "evil")
        config(f"branch.fix-{name}.merge", "refs/heads/main")
    for path in [root / "example.com/org/scripts", *(root / "example.com/org/scripts").iterdir()]:
        os.lchown(path, owner.pw_uid, owner.pw_gid)

    result = world.run("push", "-s", "mallory", "--json", check=True)
    rows = {o["path"]: o for o in json.loads(result.stdout)}
    for name, remote in trusted.items():
        row = rows[f"example.com/org/{name}"]
        assert (row["status"], row["remote"], row["branch"]) == ("done", "origin", f"fix-{name}"), row
        # the branch landed under its own name in the code root's remote, and nowhere else
        assert git("log", "-1", "--format=%s", f"fix-{name}", cwd=remote) == f"fix {name}"
        assert git("log", "-1", "--format=%s", "main", cwd=remote) == "initial"
        assert "hijacked" not in git("branch", "--list", cwd=remote)
        code_repo = world.code_root / f"example.com/org/{name}"
        assert git("config", "remote.origin.url", cwd=code_repo) == str(remote)
        assert git("config", "--get", "remote.origin.pushurl", cwd=code_repo, check=False) == ""
        assert git("config", "--get", "remote.evil.url", cwd=code_repo, check=False) == ""
        assert git("config", f"branch.fix-{name}.remote", cwd=code_repo) == "origin"
        assert git("config", f"branch.fix-{name}.merge", cwd=code_repo) == f"refs/heads/fix-{name}"
    assert git("branch", "--list", cwd=evil) == "* main"
    assert git("log", "-1", "--format=%s", "main", cwd=evil) == "initial"
    assert sorted(p.name for p in markers.iterdir()) == []  # nothing of the session's ran
    world.run("delete", "-f", "mallory", check=True)
