"""Sessions for real: users, btrfs snapshots, idmapped mounts and mount namespaces.

The code owner here is a real non-root user made by the test (named with the world's prefix,
so cleanup removes it; it has no session metadata, so it is not a session).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv, init_world, new_prefix, traversable_base
from tests.system.sessionprocs import start_herodev, wait_for_command, wait_until_gone

pytestmark = pytest.mark.system


def make_owner_world(base: Path) -> tuple[HerodevEnv, pwd.struct_passwd]:
    world, owner = init_world(base, with_owner=True)
    assert owner is not None
    repo = world.code_root / "org" / "repo"
    repo.mkdir(parents=True)
    (repo / "file").write_text("original\n")
    (world.code_root / "rootfile").write_text("root's\n")
    for path in (world.code_root / "org", repo, repo / "file"):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return world, owner


@contextlib.contextmanager
def owner_world() -> Iterator[HerodevEnv]:
    with traversable_base() as base:
        env = HerodevEnv(base, new_prefix())
        try:
            env, owner = make_owner_world(base)
            env.extra_env["TEST_OWNER_UID"] = str(owner.pw_uid)
            yield env
        finally:
            env.cleanup()


@pytest.fixture(scope="module")
def world() -> Iterator[HerodevEnv]:
    with owner_world() as env:
        yield env


def owner_uid(world: HerodevEnv) -> int:
    return int(world.extra_env["TEST_OWNER_UID"])


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def pieces_of(world: HerodevEnv, name: str) -> list[str]:
    user = world.user(name)
    return sorted(p.name for p in world.sessions_dir.iterdir() if p.name.split(".")[0] == user)


def in_session(world: HerodevEnv, name: str, script: str, check: bool | int = True) -> subprocess.CompletedProcess[str]:
    return world.run("enter", name, "--", "sh", "-c", script, check=check)


def test_create_list_info_delete_round_trip(world: HerodevEnv) -> None:
    created = json.loads(world.run("create", "alice", "--json", check=True).stdout)
    user = world.user("alice")
    assert created["name"] == "alice" and created["user"] == user
    assert user_exists(user)
    assert Path(pwd.getpwnam(user).pw_dir).is_dir() and pwd.getpwnam(user).pw_shell == "/bin/bash"
    assert pieces_of(world, "alice") == [user, f"{user}.base", f"{user}.json"]
    meta = json.loads((world.sessions_dir / f"{user}.json").read_text())
    assert meta["code_owner_uid"] == owner_uid(world) and meta["base_generation"] > 0
    assert meta["created"].endswith("Z")

    listed = json.loads(world.run("list", "--json", check=True).stdout)
    alice = next(s for s in listed if s["name"] == "alice")
    assert {"name", "user", "path", "created"} <= set(alice)
    assert alice["path"] == str(world.sessions_dir / user) and alice["created"] == meta["created"]
    assert not any(s["name"] == "owner" for s in listed)  # a user with the prefix is not a session
    assert "alice" in world.run("sessions", check=True).stdout

    info = json.loads(world.run("info", "alice", "--json", check=True).stdout)
    assert info["user"] == user and info["processes"] == 0 and info["problems"] == []
    assert "alice" in world.run("info", "alice", check=True).stdout

    deleted = world.run("delete", "alice", check=True)
    assert "deleted session alice" in deleted.stdout
    assert not user_exists(user)
    assert pieces_of(world, "alice") == []
    assert not Path(f"/home/{user}").exists()
    assert json.loads(world.run("list", "--json", check=True).stdout) == [] or all(
        s["name"] != "alice" for s in json.loads(world.run("list", "--json", check=True).stdout)
    )
    missing = world.run("info", "alice")
    assert missing.returncode == 1 and "no session named 'alice'" in missing.stderr


def test_enter_runs_as_the_session_user_and_writes_only_the_session(world: HerodevEnv) -> None:
    world.run("create", "writer", check=True)
    user = world.user("writer")
    code = world.code_root
    result = in_session(
        world,
        "writer",
        f"id -un; pwd; touch {code}/x; echo more >> {code}/org/repo/file; "
        f"stat -c %U {code}/org/repo/file {code}/rootfile; echo $HOME $USER",
    )
    lines = result.stdout.split()
    assert lines[0] == user
    assert lines[1] == str(code)
    assert lines[2:4] == [user, "root"]  # the owner's files show as the session's; root's stay root's
    assert lines[4:] == [pwd.getpwnam(user).pw_dir, user]
    snapshot, base = world.sessions_dir / user, world.sessions_dir / f"{user}.base"
    assert (snapshot / "x").exists()
    assert (snapshot / "x").stat().st_uid == owner_uid(world)  # stored as the code owner: no chown needed
    assert (snapshot / "org/repo/file").read_text() == "original\nmore\n"
    assert not (code / "x").exists() and not (base / "x").exists()
    assert (code / "org/repo/file").read_text() == "original\n"
    assert (base / "org/repo/file").read_text() == "original\n"
    assert (code / "org/repo/file").stat().st_uid == owner_uid(world)  # outside, nothing was chowned


def test_exit_status_is_the_commands(world: HerodevEnv) -> None:
    world.run("create", "status", check=True)
    groups = world.run("enter", "status", "--", "id", "-G", check=True).stdout.split()
    assert groups == [str(pwd.getpwnam(world.user("status")).pw_gid)]  # its own group only, not root's
    assert in_session(world, "status", "exit 7", check=False).returncode == 7
    missing = world.run("enter", "status", "--", "no-such-command-here")
    assert missing.returncode == 127 and "command not found" in missing.stderr
    killed = in_session(world, "status", "kill -TERM $$", check=False)
    assert killed.returncode == 128 + 15
    # Without a terminal, stdin reaches the command.
    piped = world.run("enter", "status", "--", "cat", input="through the pipe\n", check=True)
    assert piped.stdout == "through the pipe\n"


def test_sessions_cannot_see_each_other_nor_the_sessions_dir(world: HerodevEnv) -> None:
    world.run("create", "one", check=True)
    world.run("create", "two", check=True)
    code = world.code_root
    in_session(world, "one", f"echo secret > {code}/secret")
    seen = in_session(world, "two", f"cat {code}/secret", check=False)
    assert seen.returncode != 0 and "secret" not in seen.stdout
    listing = in_session(world, "two", f"ls -A {code}/.sessions; ls {code}/.sessions/{world.user('one')}", check=False)
    assert listing.returncode != 0 and listing.stdout.strip() == ""
    hidden = in_session(world, "two", f"touch {code}/.sessions/y", check=False)
    assert hidden.returncode != 0


def test_the_code_root_and_bases_cannot_be_written_from_inside(world: HerodevEnv) -> None:
    world.run("create", "reader", check=True)
    user = world.user("reader")
    code = world.code_root
    base = world.sessions_dir / f"{user}.base"
    result = in_session(
        world,
        "reader",
        f"touch {base}/y; echo $?; grep -F ' {code} ' /proc/self/mountinfo",
        check=False,
    )
    assert result.stdout.split()[0] != "0"
    assert "nosuid" in result.stdout and "nodev" in result.stdout
    assert not (base / "y").exists()
    assert not (code / "y").exists()
    # The session user has no way around the mount: the real sessions dir is root's, 0700.
    assert (world.sessions_dir.stat().st_mode & 0o777) == 0o700


BAD_NAMES = [
    "",
    "..",
    "/",
    "a/b",
    "../../etc",
    "a b",
    "Alice",
    "$(id)",
    "`id`",
    "a;b",
    "a;touch /tmp/pwned",
    "a|b",
    "-rf",
    "1abc",
    "a.b",
    "é",
    "x" * 29,
    "root",
    "list",
    "owner",  # <prefix>owner exists and is not a session
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_exit_2_and_create_nothing(world: HerodevEnv, name: str) -> None:
    mine = lambda: sorted(u.pw_name for u in pwd.getpwall() if u.pw_name.startswith(world.prefix))  # noqa: E731
    before_users = mine()
    before_files = sorted(os.listdir(world.sessions_dir))
    result = world.run("create", "--", name) if name.startswith("-") else world.run("create", name)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "a-z, 0-9" in result.stderr
    assert mine() == before_users
    assert sorted(os.listdir(world.sessions_dir)) == before_files


@pytest.mark.parametrize("step", ["create:after-user", "create:after-snapshot", "create:after-metadata"])
def test_an_injected_failure_leaves_nothing_behind(world: HerodevEnv, step: str) -> None:
    result = world.run("create", "broken", HERODEV_FAIL_AT=step)
    assert result.returncode == 1
    assert "could not create session broken" in result.stderr and "injected failure" in result.stderr
    assert "undone" in result.stderr
    assert not user_exists(world.user("broken"))
    assert pieces_of(world, "broken") == []


@pytest.mark.parametrize("step", ["create:after-user", "create:after-metadata"])
def test_ctrl_c_during_create_undoes_it_and_exits_130(world: HerodevEnv, step: str) -> None:
    result = world.run("create", "cut", HERODEV_INTERRUPT_AT=step)  # a real SIGINT at that step
    assert result.returncode == 130, result.stderr
    assert "error: create cut interrupted" in result.stderr and "undone" in result.stderr
    assert not user_exists(world.user("cut"))
    assert pieces_of(world, "cut") == []
    log = world.run("log", "--json", check=True).stdout
    assert '"command":"create"' in log.replace(" ", "") and "interrupted" in log


def test_two_concurrent_creates_one_wins(world: HerodevEnv) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "herodev_shell", "create", "race"],
            env=world.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0, 1]
    assert "session race already exists" in outcomes[1][1]
    assert pieces_of(world, "race") == [world.user("race"), f"{world.user('race')}.base", f"{world.user('race')}.json"]
    world.run("delete", "race", check=True)


def wait_for_processes(user: str, present: bool, timeout: float = 30) -> None:
    uid = pwd.getpwnam(user).pw_uid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, check=False).returncode == 0
        if found == present:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes of {user} {'never appeared' if present else 'still running'}")


def test_delete_refuses_work_and_processes_then_force_cleans_all(world: HerodevEnv) -> None:
    world.run("create", "busy", check=True)
    user = world.user("busy")
    in_session(world, "busy", f"echo work > {world.code_root}/work.txt")
    refused = world.run("delete", "busy")
    assert refused.returncode == 1
    assert "changed path" in refused.stderr and "work.txt" in refused.stderr and "-f" in refused.stderr
    assert user_exists(user) and (world.sessions_dir / user / "work.txt").exists()

    sleeper = subprocess.Popen(
        [sys.executable, "-m", "herodev_shell", "enter", "busy", "--", "sleep", "600"],
        env=world.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_processes(user, present=True)
        refused = world.run("delete", "busy")
        assert refused.returncode == 1 and "process(es) of" in refused.stderr
        forced = world.run("delete", "-f", "busy", check=True)
        assert "threw away: 1 changed path(s)" in forced.stderr and "work.txt" in forced.stderr
        assert "ended" in forced.stderr
        assert sleeper.wait(timeout=60) == 128 + 9
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not user_exists(user)
    assert pieces_of(world, "busy") == []


def test_a_clean_session_deletes_without_force(world: HerodevEnv) -> None:
    world.run("create", "clean", check=True)
    in_session(world, "clean", f"cat {world.code_root}/org/repo/file > /dev/null")  # reading is not work
    world.run("delete", "clean", check=True)
    assert not user_exists(world.user("clean"))


def test_half_there_sessions_are_reported_and_deleted(world: HerodevEnv) -> None:
    world.run("create", "half", check=True)
    user = world.user("half")
    subprocess.run(["btrfs", "subvolume", "delete", str(world.sessions_dir / user)], check=True, capture_output=True)
    subprocess.run(["useradd", "--comment", "herodev session lone", world.user("lone")], check=True)
    listed = json.loads(world.run("check", "--json").stdout)
    rows = {row["name"]: row for row in listed}
    assert rows["sessions"]["status"] == "warn"
    assert "half (no snapshot)" in rows["sessions"]["detail"]
    assert "lone (no snapshot, base, metadata)" in rows["sessions"]["detail"]
    # each half-made session is reported once: in the sessions row, not again as a leftover
    named = re.compile(r"(?<![\w-])half(?![\w-])")  # the session's name, not "half-there"
    mentions = [r["name"] for r in listed if named.search(r["detail"])]
    assert mentions == ["sessions"], listed
    info = json.loads(world.run("info", "half", "--json", check=True).stdout)
    assert any("snapshot" in problem for problem in info["problems"])
    entering = world.run("enter", "half", "--", "true")
    assert entering.returncode == 1 and "half there" in entering.stderr
    recreate = world.run("create", "half")
    assert recreate.returncode == 1 and "delete -f half" in recreate.stderr

    world.run("delete", "half", check=True)
    world.run("delete", "lone", check=True)
    assert not user_exists(user) and not user_exists(world.user("lone"))
    assert pieces_of(world, "half") == [] and pieces_of(world, "lone") == []
    rows = {row["name"]: row for row in json.loads(world.run("check", "--json").stdout)}
    assert rows["sessions"]["status"] == "pass"


def test_use_chooses_the_current_session(world: HerodevEnv) -> None:
    world.run("create", "cur", check=True)
    shown = world.run("-c", "use cur; use; info", check=True)
    assert "using session cur" in shown.stderr and world.user("cur") in shown.stdout
    ran = world.run("-c", "use cur; enter -- id -un", check=True)
    assert ran.stdout.strip().splitlines()[-1] == world.user("cur")
    cleared = world.run("-c", "use cur; use --clear; info")
    assert cleared.returncode == 2 and "no session chosen" in cleared.stderr
    unknown = world.run("use", "nosuch")
    assert unknown.returncode == 1 and "no session named 'nosuch'" in unknown.stderr
    assert "existing sessions:" in unknown.stderr and "cur" in unknown.stderr


def test_without_root_changing_commands_say_so(world: HerodevEnv) -> None:
    """In-process, with the effective uid of nobody (the interpreter's own files may not be
    readable by nobody, so a real nobody process cannot always start here)."""
    from herodev_shell.core import execution, sessions
    from herodev_shell.core.settings import load_settings
    from herodev_shell.errors import HerodevError, NeedsRoot
    from herodev_shell.system.runner import Runner

    settings = load_settings(environ=world.env())
    calls = {
        "create": lambda: sessions.create_session(settings, Runner(), "x"),
        "delete": lambda: sessions.delete_session(settings, Runner(), "x", force=True),
        "enter": lambda: execution.enter_session(settings, Runner(), "x", ["true"]),
    }
    os.seteuid(65534)
    try:
        with pytest.raises(HerodevError) as unreadable:
            sessions.list_sessions(settings)
    finally:
        os.seteuid(0)
    assert "only root sees the sessions" in unreadable.value.message
    for command, call in calls.items():
        os.seteuid(65534)
        try:
            with pytest.raises(NeedsRoot) as caught:
                call()
        finally:
            os.seteuid(0)
        assert caught.value.message == f"{command} needs root privileges"
        assert caught.value.hint and caught.value.hint.startswith("sudo herodev")
    assert not user_exists(world.user("x"))


def test_sigint_reaches_a_command_entered_without_any_terminal(world: HerodevEnv) -> None:
    """No terminal anywhere (a script, cron, `timeout -s INT`): SIGINT to herodev ends the
    command (its own session: nothing else can reach it) and the status says so, 130. It used
    to be ignored: the command ran on and `enter` exited 0, as if it had succeeded."""
    world.run("create", "sigint", check=True)
    try:
        enter = start_herodev(world, "enter", "sigint", "--", "sh", "-c", "sleep 30; echo finished")
        wait_for_command(world.user("sigint"), "sleep")
        started = time.monotonic()
        enter.send_signal(2)
        out, _ = enter.communicate(timeout=25)
        assert enter.returncode == 130 and "finished" not in out
        assert time.monotonic() - started < 10
    finally:
        world.run("delete", "-f", "sigint")


@pytest.mark.parametrize("signum", [15, 1])
def test_sigterm_and_sighup_end_a_command_entered_without_any_terminal(world: HerodevEnv, signum: int) -> None:
    """No terminal anywhere: SIGTERM or SIGHUP to herodev (`kill`, `timeout`, a dropped ssh)
    reaches the command's group, herodev waits for it and ends 128+N. It used to end herodev
    alone (the default action) and leave the command running in the session until `delete`."""
    world.run("create", "sigterm", check=True)
    user = world.user("sigterm")
    try:
        enter = start_herodev(world, "enter", "sigterm", "--", "sh", "-c", "sleep 30; echo finished")
        wait_for_command(user, "sleep")
        enter.send_signal(signum)
        out, _ = enter.communicate(timeout=25)
        assert enter.returncode == -signum or enter.returncode == 128 + signum
        assert "finished" not in out
        wait_until_gone(user)  # the group's other members die with it, not before its leader is reaped
    finally:
        world.run("delete", "-f", "sigterm")
