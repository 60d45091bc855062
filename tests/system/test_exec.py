"""`exec NAME -- CMD`: a command in the session without a terminal, for real."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv
from tests.system.sessionprocs import start_herodev, wait_for_command, wait_until_gone

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def world(hd_module_world: HerodevEnv) -> Iterator[HerodevEnv]:
    hd_module_world.run("create", "ex", check=True)
    yield hd_module_world
    hd_module_world.run("delete", "-f", "ex")


def test_status_stdout_and_stderr_come_back_apart(world: HerodevEnv) -> None:
    result = world.run("exec", "ex", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, "out\n", "err\n")
    ok = world.run("exec", "ex", "--", "true")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")


def test_runs_as_the_session_user_in_its_tree_and_group(world: HerodevEnv) -> None:
    script = "id -un; pwd; echo made > exec-made; grep -E ':pids:|^0::' /proc/self/cgroup"
    result = world.run("exec", "ex", "--", "sh", "-c", script, check=True)
    user, cwd, *groups = result.stdout.splitlines()
    assert user == world.user("ex")
    assert cwd == str(world.code_root)
    assert any(line.endswith(f"{world.cgroup}/{world.user('ex')}") for line in groups), groups
    assert (world.sessions_dir / world.user("ex") / "exec-made").read_text() == "made\n"
    assert not (world.code_root / "exec-made").exists(), "the write went to the code root, not the session"


def test_json_has_status_output_and_timing(world: HerodevEnv) -> None:
    result = world.run("exec", "ex", "--json", "--", "sh", "-c", "printf 'a\\nb'; echo e >&2; exit 3")
    data = json.loads(result.stdout)
    assert result.returncode == 3
    assert data["status"] == 3 and data["stdout"] == "a\nb" and data["stderr"] == "e\n"
    assert data["timed_out"] is False and isinstance(data["duration"], float)
    assert data["command"] == ["sh", "-c", "printf 'a\\nb'; echo e >&2; exit 3"]
    before_name = world.run("exec", "--json", "ex", "--", "true")  # options before NAME work too
    assert json.loads(before_name.stdout)["status"] == 0


def test_deadline_kills_the_command_and_its_children(world: HerodevEnv) -> None:
    started = time.monotonic()
    result = world.run(
        "exec", "ex", "--timeout", "1", "--json", "--", "sh", "-c", "echo begun; sleep 300 & sleep 301; echo never"
    )
    elapsed = time.monotonic() - started
    data = json.loads(result.stdout)
    assert result.returncode == 124 and data["timed_out"] is True and data["status"] == 124
    assert data["stdout"] == "begun\n"
    assert elapsed < 30, elapsed
    listed = world.run("exec", "ex", "--", "ps", "-o", "args=", "-u", world.user("ex"), check=False).stdout
    assert "sleep 30" not in listed, listed  # both sleeps went with the deadline
    plain = world.run("exec", "ex", "--timeout", "1", "--", "sleep", "300")
    assert plain.returncode == 124 and "did not finish within its deadline" in plain.stderr


def test_stdin_is_the_callers_pipe(world: HerodevEnv) -> None:
    result = world.run("exec", "ex", "--", "tr", "a-z", "A-Z", input="hello\n", check=True)
    assert result.stdout == "HELLO\n"
    closed = world.run("exec", "ex", "--no-stdin", "--", "cat", input="not for cat\n", check=True)
    assert closed.stdout == ""


def test_cwd_and_missing_commands(world: HerodevEnv) -> None:
    (world.sessions_dir / world.user("ex") / "sub").mkdir(exist_ok=True)
    result = world.run("exec", "ex", "-C", "sub", "--", "pwd", check=True)
    assert result.stdout == f"{world.code_root}/sub\n"
    missing = world.run("exec", "ex", "--", "no-such-command-here")
    assert missing.returncode == 127 and missing.stderr.startswith("error: no-such-command-here: command not found")
    nothing = world.run("exec", "ex", "--")
    assert nothing.returncode == 2 and "needs a command" in nothing.stderr
    nosession = world.run("exec", "nosuch", "--", "true")
    assert nosession.returncode == 1 and "no session named 'nosuch'" in nosession.stderr


def test_output_is_capped_head_and_tail_kept(world: HerodevEnv) -> None:
    script = "echo FIRST; head -c 3000000 /dev/zero | tr '\\0' x; echo; echo LAST"
    result = world.run("exec", "ex", "--json", "--", "sh", "-c", script, check=True)
    data = json.loads(result.stdout)
    assert data["truncated"] is True
    assert len(data["stdout"]) < 1_100_000
    assert data["stdout"].startswith("FIRST\n") and data["stdout"].endswith("LAST\n")
    assert "bytes of output cut here" in data["stdout"]


def test_a_background_child_holding_the_output_does_not_hang_exec(world: HerodevEnv) -> None:
    started = time.monotonic()
    result = world.run("exec", "ex", "--", "sh", "-c", "sleep 20 & echo hi", check=True)
    assert result.stdout == "hi\n"
    assert time.monotonic() - started < 15
    world.run("exec", "ex", "--", "pkill", "-u", world.user("ex"), "sleep")


def test_dry_run_runs_nothing(world: HerodevEnv) -> None:
    result = world.run("-n", "exec", "ex", "--", "sh", "-c", "echo ran > dry-ran", check=True)
    assert "would run in session ex" in result.stderr
    assert not (world.sessions_dir / world.user("ex") / "dry-ran").exists()


def test_env_adds_variables(world: HerodevEnv) -> None:
    result = world.run("exec", "ex", "-e", "ONE=1", "--env", "TWO=a b", "--", "sh", "-c", 'echo "$ONE|$TWO|$USER"')
    assert result.returncode == 0 and result.stdout == f"1|a b|{world.user('ex')}\n"
    after_name = world.run("exec", "ex", "-e", "X=y", "--", "sh", "-c", 'echo "$X"', check=True)
    assert after_name.stdout == "y\n"
    bad = world.run("exec", "ex", "-e", "1BAD=x", "--", "true")
    assert bad.returncode == 2 and "invalid environment variable" in bad.stderr


def test_core_input_is_fed_while_output_is_read(world: HerodevEnv) -> None:
    """exec_in_session(input=...) as the MCP server uses it: 3 MiB in and out at once, and a
    CMD that never reads its input, neither deadlocks."""
    from herodev_shell.core import execution
    from herodev_shell.core.settings import load_settings
    from herodev_shell.system.runner import Runner

    settings, runner = load_settings(environ=world.env()), Runner()
    data = b"y" * (3 << 20)
    counted = execution.exec_in_session(settings, runner, "ex", ["wc", "-c"], 60, input=data)
    assert counted.stdout.strip() == str(len(data))
    echoed = execution.exec_in_session(settings, runner, "ex", ["cat"], 60, input=data)
    assert echoed.truncated and echoed.stdout.startswith("yyyy") and echoed.status == 0
    ignored = execution.exec_in_session(settings, runner, "ex", ["true"], 60, input=data)
    assert ignored.status == 0 and not ignored.timed_out


@pytest.mark.parametrize("signum", [15, 1, 2])
def test_a_signal_to_herodev_ends_the_command_too(world: HerodevEnv, signum: int) -> None:
    """SIGTERM, SIGHUP or SIGINT to herodev (`kill`, `timeout`, a dropped ssh, a script's
    Ctrl-C) while exec runs: the command's group gets it, herodev waits for it and ends 128+N.
    CMD has its own session (setsid), so nothing else would reach it: it would run on."""
    user = world.user("ex")
    script = f"sleep 30; echo finished > signal-{signum}"
    proc = start_herodev(world, "exec", "ex", "--", "sh", "-c", script)
    try:
        wait_for_command(user, "sleep")
        proc.send_signal(signum)
        proc.communicate(timeout=25)
        assert proc.returncode in (-signum, 128 + signum)
        wait_until_gone(user)
        assert not (world.sessions_dir / user / f"signal-{signum}").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)


def test_a_command_ignoring_the_forwarded_signal_is_killed_after_the_grace(world: HerodevEnv) -> None:
    """The wait after forwarding is bounded: a CMD that ignores SIGTERM is killed (SIGKILL to
    its group) after captured.STOP_GRACE, and herodev still ends by SIGTERM."""
    user = world.user("ex")
    proc = start_herodev(world, "exec", "ex", "--", "sh", "-c", "trap '' TERM; sleep 60")
    try:
        wait_for_command(user, "sleep")
        sent = time.monotonic()
        proc.send_signal(15)
        proc.communicate(timeout=25)
        assert proc.returncode in (-15, 128 + 15)
        assert 4 < time.monotonic() - sent < 15  # STOP_GRACE (5 s), not the exec deadline
        wait_until_gone(user)  # the killed group's members are reaped by their new parent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
