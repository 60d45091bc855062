"""Setup hooks for real: committed `.herodev/setup` files of the code root's repositories run
in a new session as its user, in its tree and cgroup; failures and deadlines are reported."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import git

pytestmark = pytest.mark.system

RECORD = """#!/bin/sh
{ id -un; pwd; grep -E ':pids:|^0::' /proc/self/cgroup; echo "session=$HERODEV_SESSION repo=$HERODEV_REPO"; } > hook-ran
echo "hook says hello"
"""


def add_repo(world: HerodevEnv, relative: str, hook: str | None, commit_hook: bool = True, mode: int = 0o755) -> Path:
    repo = world.code_root / relative
    repo.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    (repo / "README").write_text("readme\n")
    git("add", "README", cwd=repo)
    if hook is not None:
        (repo / ".herodev").mkdir()
        (repo / ".herodev" / "setup").write_text(hook)
        os.chmod(repo / ".herodev" / "setup", mode)
        if commit_hook:
            git("add", ".herodev/setup", cwd=repo)
    git("commit", "-q", "-m", "start", cwd=repo)
    return repo


@pytest.fixture
def world(hd_world: HerodevEnv) -> Iterator[HerodevEnv]:
    yield hd_world


def in_session(world: HerodevEnv, name: str, relative: str) -> Path:
    return world.sessions_dir / world.user(name) / relative


def test_a_committed_hook_runs_as_the_session_user_in_its_repository(world: HerodevEnv) -> None:
    add_repo(world, "org/app", RECORD)
    add_repo(world, "org/plain", None)
    created = world.run("create", "hooked", "--tasks", "100", check=True)
    assert "setup org/app/.herodev/setup: ok" in created.stderr
    user, cwd, *rest = in_session(world, "hooked", "org/app/hook-ran").read_text().splitlines()
    assert user == world.user("hooked")
    assert cwd == str(world.code_root / "org/app")
    assert any(line.endswith(f"{world.cgroup}/{world.user('hooked')}") for line in rest), rest
    assert "session=hooked repo=org/app" in rest
    assert not (world.code_root / "org/app/hook-ran").exists(), "the hook wrote into the code root"
    log = Path(world.env()["HERODEV_AUDIT_LOG"]).parent / "setup" / f"{world.user('hooked')}.log"
    assert "hook says hello" in log.read_text()
    assert (log.stat().st_mode & 0o077) == 0, "the setup log must be root's alone"
    # on demand, again
    in_session(world, "hooked", "org/app/hook-ran").unlink()
    again = world.run("setup", "hooked", "--json", check=True)
    data = json.loads(again.stdout)
    assert data["ok"] is True and [h["repo"] for h in data["hooks"]] == ["org/app"]
    assert in_session(world, "hooked", "org/app/hook-ran").exists()
    # --no-setup skips them
    world.run("create", "bare", "--no-setup", check=True)
    assert not in_session(world, "bare", "org/app/hook-ran").exists()


def test_a_failing_hook_keeps_the_session_and_shows_its_tail(world: HerodevEnv) -> None:
    add_repo(world, "svc", "#!/bin/sh\necho step one\necho 'it broke here' >&2\nexit 3\n")
    result = world.run("create", "broken")
    assert result.returncode == 1
    assert "error: setup hook svc/.herodev/setup exited 3 in session broken" in result.stderr
    assert "it broke here" in result.stderr and "step one" in result.stderr
    assert "'herodev setup broken' runs the hooks again" in result.stderr
    names = [s["name"] for s in json.loads(world.run("list", "--json", check=True).stdout)]
    assert "broken" in names, "a failing hook must not undo create"
    assert world.run("setup", "broken").returncode == 1


def test_a_hook_past_its_deadline_is_killed(world: HerodevEnv) -> None:
    add_repo(world, "slow", "#!/bin/sh\necho starting\nsleep 300\necho never\n")
    started = time.monotonic()
    result = world.run("create", "slowpoke", HERODEV_SETUP_TIMEOUT="2")
    assert time.monotonic() - started < 60
    assert result.returncode == 1 and "timed out" in result.stderr and "starting" in result.stderr
    leftovers = world.run("exec", "slowpoke", "--", "ps", "-o", "args=", "-u", world.user("slowpoke")).stdout
    assert "sleep 300" not in leftovers


def test_only_committed_executable_hooks_run(world: HerodevEnv) -> None:
    add_repo(world, "uncommitted", RECORD, commit_hook=False)
    add_repo(world, "notexec", RECORD, mode=0o644)
    committed = add_repo(world, "edited", "#!/bin/sh\necho committed > hook-ran\n")
    (committed / ".herodev" / "setup").write_text("#!/bin/sh\necho uncommitted-edit > hook-ran\n")
    result = world.run("create", "strict", check=True)
    assert not in_session(world, "strict", "uncommitted/hook-ran").exists()
    assert not in_session(world, "strict", "notexec/hook-ran").exists()
    assert in_session(world, "strict", "edited/hook-ran").read_text() == "committed\n"
    assert "uncommitted: .herodev/setup is not committed" in result.stderr
    assert "notexec: .herodev/setup is committed without the executable bit" in result.stderr


def test_the_code_roots_own_hook_runs_at_the_top(world: HerodevEnv) -> None:
    top = world.code_root / ".herodev"
    top.mkdir()
    (top / "setup").write_text("#!/bin/sh\npwd > top-hook-ran\n")
    os.chmod(top / "setup", 0o755)
    world.run("create", "topped", check=True)
    assert in_session(world, "topped", "top-hook-ran").read_text() == f"{world.code_root}\n"
    os.chmod(top / "setup", 0o777)  # writable by anyone: not trusted
    result = world.run("create", "loose", check=True)
    assert not in_session(world, "loose", "top-hook-ran").exists()
    assert "writable by others" in result.stderr


def test_fork_runs_the_hooks_in_the_new_session(world: HerodevEnv) -> None:
    add_repo(world, "org/app", RECORD)
    world.run("create", "parent", "--memory", "256M", "--no-setup", check=True)
    world.run("fork", "parent", "child", check=True)
    assert in_session(world, "child", "org/app/hook-ran").read_text().splitlines()[0] == world.user("child")
    limits = json.loads(world.run("info", "child", "--json", check=True).stdout)["limits"]
    assert limits["memory"] == 256 << 20, "a fork keeps its source's limits"
