"""A person at a terminal: `use` changes the prompt, `enter` opens a login shell, `exit` comes back."""

from __future__ import annotations

import sys

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
