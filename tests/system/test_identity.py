"""A session's git identity: `git commit` inside `enter` just works, and `info` shows who it is."""

from __future__ import annotations

import json
import pwd
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

COMMIT = (
    "git init -q work && cd work && echo x > f && git add f && git commit -q -m first"
    " && git log -1 --format='%an <%ae>'"
)


def _commit_inside(world: HerodevEnv, name: str) -> str:
    result = world.run("enter", name, "--", "sh", "-c", f"cd {world.code_root} && {COMMIT}")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_git_commit_inside_enter_uses_the_identity_given_at_create(hd_world: HerodevEnv) -> None:
    hd_world.run("create", "ida", "--git-name", "Ida Lovelace", "--git-email", "ida@example.com", check=True)
    assert _commit_inside(hd_world, "ida") == "Ida Lovelace <ida@example.com>"
    user = pwd.getpwnam(hd_world.user("ida"))
    config = Path(user.pw_dir) / ".gitconfig"
    info = config.lstat()
    assert stat.S_ISREG(info.st_mode) and info.st_uid == user.pw_uid and info.st_gid == user.pw_gid
    assert stat.S_IMODE(info.st_mode) in (0o600, 0o644)
    shown = json.loads(hd_world.run("info", "ida", "--json", check=True).stdout)
    assert (shown["git_name"], shown["git_email"]) == ("Ida Lovelace", "ida@example.com")
    table = hd_world.run("info", "ida", check=True).stdout
    assert "Ida Lovelace <ida@example.com>" in table
    # herodev's own commit is by the same person
    (hd_world.sessions_dir / user.pw_name / "work" / "g").write_text("more\n")
    hd_world.run("commit", "-s", "ida", "-m", "second", "work", check=True)
    log = hd_world.run(
        "enter", "ida", "--", "git", "-C", f"{hd_world.code_root}/work", "log", "-1", "--format=%an <%ae>"
    )
    assert log.stdout.strip() == "Ida Lovelace <ida@example.com>"
    hd_world.run("delete", "-f", "ida", check=True)


def test_the_identity_defaults_to_the_author_setting_then_to_the_user_at_this_host(hd_world: HerodevEnv) -> None:
    hd_world.run("create", "team", HERODEV_AUTHOR_NAME="Team Bot", HERODEV_AUTHOR_EMAIL="bot@example.com", check=True)
    assert _commit_inside(hd_world, "team") == "Team Bot <bot@example.com>"
    hd_world.run("create", "plain", check=True)
    user = hd_world.user("plain")
    assert _commit_inside(hd_world, "plain") == f"{user} <{user}@{socket.gethostname()}>"
    shown = json.loads(hd_world.run("info", "plain", "--json", check=True).stdout)
    assert shown["git_email"] == f"{user}@{socket.gethostname()}"
    for name in ("team", "plain"):
        hd_world.run("delete", "-f", name, check=True)


@pytest.mark.parametrize(
    "option",
    [["--git-email", "not an address"], ["--git-name", "Eve\nEvil"], ["--git-name", "Eve <e@x>"], ["--git-name", ""]],
)
def test_a_bad_identity_is_a_usage_error_and_creates_nothing(hd_world: HerodevEnv, option: list[str]) -> None:
    refused = hd_world.run("create", "bad", *option)
    assert refused.returncode == 2 and refused.stderr.startswith("error: "), refused.stderr
    with pytest.raises(KeyError):
        pwd.getpwnam(hd_world.user("bad"))
    assert not (hd_world.sessions_dir / hd_world.user("bad")).exists()


def test_repair_gives_a_user_it_makes_again_the_same_identity(hd_world: HerodevEnv) -> None:
    hd_world.run("create", "lost", "--git-name", "Lost Soul", "--git-email", "lost@example.com", check=True)
    subprocess.run(["userdel", "-r", hd_world.user("lost")], check=True, capture_output=True)  # a crash
    repaired = hd_world.run("repair", check=True)
    assert f"created user {hd_world.user('lost')} again" in repaired.stdout
    assert _commit_inside(hd_world, "lost") == "Lost Soul <lost@example.com>"
    hd_world.run("delete", "-f", "lost", check=True)
