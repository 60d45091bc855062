"""create and fork never take over an account someone else made under a session's user name."""

from __future__ import annotations

import json
import pwd
import subprocess

import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


def test_create_and_fork_refuse_a_user_that_is_not_a_session(hd_world: HerodevEnv) -> None:
    user = hd_world.user("taken")
    subprocess.run(["useradd", "--no-create-home", "--comment", "someone else's", user], check=True)
    before = pwd.getpwnam(user)
    hd_world.run("create", "src", check=True)

    for argv in (["create", "taken"], ["fork", "src", "taken"]):
        result = hd_world.run(*argv)
        assert result.returncode == 2, result.stderr
        assert f"user {user} already exists and is not a herodev session" in result.stderr
        assert pwd.getpwnam(user) == before  # the account is untouched
        assert not (hd_world.sessions_dir / f"{user}.json").exists()
    names = [s["name"] for s in json.loads(hd_world.run("--json", "list", check=True).stdout)]
    assert names == ["src"]
