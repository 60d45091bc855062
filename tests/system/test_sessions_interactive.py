"""A person at a terminal: `use` changes the prompt, `enter` opens a login shell, `exit` comes back."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


@pytest.fixture
def world(hd_world: HerodevEnv) -> HerodevEnv:
    hd_world.run("create", "pex", check=True)
    return hd_world


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_use_prompt_and_interactive_enter(world: HerodevEnv, term: str) -> None:
    env = world.env(TERM=term, LINES="40", COLUMNS="120", PAGER="cat")
    child = pexpect.spawn(
        sys.executable, ["-m", "herodev_shell"], env=env, encoding="utf-8", timeout=30, dimensions=(40, 120)
    )
    log: list[str] = []
    child.logfile_read = type("Log", (), {"write": lambda _, s: log.append(s), "flush": lambda _: None})()
    # Under xterm prompt_toolkit draws the prompt's trailing space as a cursor move.
    space = " " if term == "dumb" else ""
    try:
        child.expect_exact("herodev>" + space)
        child.sendline("use pex")
        child.expect_exact("using session pex")
        child.expect_exact("herodev(pex)>" + space)
        child.sendline("enter")
        # The login shell's prompt names the session user; then run a command in it.
        child.expect_exact(world.user("pex"))
        child.sendline("id -un; echo DONE-$((6*7))")
        child.expect_exact("DONE-42")
        assert world.user("pex") in child.before
        child.sendline("exit")
        child.expect_exact("herodev(pex)>" + space)
        child.sendline("use --clear")
        child.expect_exact("no current session")
        child.expect_exact("herodev>" + space)
        child.sendline("quit")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF) as exc:
        raise AssertionError(f"{type(exc).__name__}; the session so far:\n{''.join(log)}") from None
    finally:
        if child.isalive():
            child.sendcontrol("c")
            child.sendcontrol("d")
            child.terminate(force=True)
    child.close()
    assert child.exitstatus == 0


def _spawn(world: HerodevEnv, *argv: str) -> pexpect.spawn:
    env = world.env(TERM="dumb", LINES="40", COLUMNS="120")
    return pexpect.spawn(argv[0], list(argv[1:]), env=env, encoding="utf-8", timeout=30, dimensions=(40, 120))


def test_enter_gets_its_own_pty_with_the_window_size_and_the_exit_status(world: HerodevEnv) -> None:
    script = "tty; stty size; read line; stty size; echo got-$line; exit 7"
    child = _spawn(world, sys.executable, "-m", "herodev_shell", "enter", "pex", "--", "sh", "-c", script)
    try:
        child.expect(r"(/dev/pts/\d+)\s+40 120\s")
        inner = child.match.group(1)
        assert inner != os.ttyname(child.child_fd), "the session got the caller's own terminal"
        child.setwinsize(50, 90)  # relayed to the session's pty (SIGWINCH)
        child.sendline("hello")
        child.expect(r"50 90\s+got-hello")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 7


def test_enter_with_a_terminal_on_stdin_only_gets_pipes(world: HerodevEnv, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    herodev = f"{sys.executable} -m herodev_shell"
    line = f"{herodev} enter pex -- sh -c 'tty; read x; echo read-$x; exit 3' > {out}; echo STATUS-$?"
    child = _spawn(world, "/bin/sh", "-c", line)
    try:
        child.sendline("abc")
        child.expect_exact("STATUS-3")
    finally:
        child.close(force=True)
    assert out.read_text().splitlines() == ["not a tty", "read-abc"]
