"""The interactive shell, driven through a pty as a person types.

Sessions here are metadata files only (enough for `use`, prompts and completion); the system
test at the end uses a real initialised world for Ctrl-C on a running command.
"""

from __future__ import annotations

import lzma
import stat
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import HerodevEnv, new_prefix
from tests.e2e.ptyshell import Pty, fake_world, strip_ansi


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    return fake_world(tmp_path, new_prefix())


def start(shells: list[Pty], world: HerodevEnv, *args: str, **kw: object) -> Pty:
    shell = Pty(world, *args, **kw)  # type: ignore[arg-type]
    shells.append(shell)
    return shell


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_prompt_is_exact_and_use_changes_it(world: HerodevEnv, shells: list[Pty], term: str) -> None:
    shell = start(shells, world, term=term)
    shell.expect_exact("herodev> ")
    shell.sendline("use alice")
    shell.expect_exact("using session alice")
    shell.expect_exact("herodev(alice)> ")
    shell.sendline("use")
    shell.expect_exact("alice")
    shell.expect_exact("herodev(alice)> ")
    shell.sendline("use --clear")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    if term == "dumb":  # plain text only, not one escape sequence
        assert "\x1b" not in shell.log.text(), shell.fail("escape codes on a dumb terminal")


def test_a_failing_command_leaves_the_shell_alive(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("use nobody")
    shell.expect_exact("error: ")
    shell.expect_exact("herodev> ")
    shell.sendline("frobnicate")
    shell.expect_exact("error: unknown command 'frobnicate'")
    shell.expect_exact("herodev> ")
    shell.sendline("use --no-such-option")
    shell.expect_exact("error: use: unrecognized arguments")
    shell.expect_exact("herodev> ")
    shell.sendline("use -h")
    shell.expect_exact("--clear")
    shell.expect_exact("herodev> ")
    shell.sendline("use bob")
    shell.expect_exact("herodev(bob)> ")
    # The last command failed before quitting: quit itself still ends with 0.
    shell.sendline("use nobody")
    shell.expect_exact("herodev(bob)> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_ctrl_d_quits_with_0(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("use nobody")  # a failure first: Ctrl-D still ends with 0
    shell.expect_exact("herodev> ")
    shell.child.sendcontrol("d")
    assert shell.wait_exit() == 0


@pytest.mark.parametrize("term", ["dumb", "xterm"])
def test_ctrl_c_cancels_the_line(world: HerodevEnv, shells: list[Pty], term: str) -> None:
    shell = start(shells, world, term=term)
    shell.expect(r"herodev>")
    shell.send("use ali")
    shell.child.sendcontrol("c")
    shell.expect(r"herodev>")
    # The half-typed `use ali` was dropped: `use` alone says no session is chosen.
    shell.sendline("use")
    shell.expect_exact("no current session")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_help_lists_the_categories_and_one_command(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("help")
    listing = shell.expect_exact("Type 'help COMMAND'")
    positions = [listing.find(f"\n{category}\r\n") for category in ("System", "Sessions", "Shell")]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), shell.fail("categories out of order")
    from herodev_shell.cli.parsers import COMMANDS

    for name in ("use", "create", "check"):
        assert COMMANDS[name].summary in listing, shell.fail(f"no summary for {name}")
    for category in {spec.category for spec in COMMANDS.values()}:
        assert f"\n{category}\r\n" in listing, shell.fail(f"category {category} missing")
    shell.expect_exact("herodev> ")
    shell.sendline("help use")
    shell.expect_exact("--clear")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_tab_completes_a_command_and_a_session(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world, term="xterm")
    shell.expect(r"herodev>")
    # `us<Tab>` -> `use `, `al<Tab>` -> `alice`; Enter runs what completion wrote.
    shell.send("us\t")
    shell.expect_exact("e")
    shell.send("al\t")
    shell.expect_exact("ice")
    shell.send("\r")
    shell.expect_exact("using session alice")
    shell.expect(r"herodev\(alice\)>")
    # An ambiguous prefix shows every candidate.
    shell.send("c\t")
    shell.expect(r"check")
    shell.expect(r"create|changes|commit")
    shell.child.sendcontrol("c")
    shell.expect(r"herodev\(alice\)>")
    # Options complete too.
    shell.send("use --cl\t\r")
    shell.expect_exact("no current session")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def _expect_answering_cpr(shell: Pty, text: str, regex: bool = False) -> None:
    """Wait for text on a terminal that answers prompt_toolkit's cursor-position requests.

    prompt_toolkit draws the bottom toolbar only once it knows the rows below the cursor.
    """
    import re

    pattern = text if regex else re.escape(text)
    while True:
        index = shell.child.expect([re.escape("\x1b[6n"), pattern, pexpect.TIMEOUT, pexpect.EOF])
        if index == 0:
            shell.send("\x1b[1;1R")
        elif index == 1:
            return
        else:
            raise shell.fail(f"no {text!r}")


def test_toolbar_shows_the_session_on_a_terminal_only(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world, term="xterm", color=True, PROMPT_TOOLKIT_NO_CPR="")
    _expect_answering_cpr(shell, "no session chosen")
    shell.sendline("use bob")
    _expect_answering_cpr(shell, " session bob ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0

    # NO_COLOR (or a pipe, or TERM=dumb): no toolbar, even with the terminal answering.
    plain = start(shells, world, term="xterm", PROMPT_TOOLKIT_NO_CPR="")
    _expect_answering_cpr(plain, "herodev>")
    plain.sendline("use bob")
    _expect_answering_cpr(plain, "herodev(bob)>")
    plain.sendline("quit")
    assert plain.wait_exit() == 0
    assert " session bob " not in strip_ansi(plain.log.text()), plain.fail("a toolbar despite NO_COLOR")


def test_history_persists_in_a_0600_file(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("use alice")
    shell.expect_exact("herodev(alice)> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    history = world.base / "home" / ".local" / "state" / "herodev" / "history"
    assert stat.S_IMODE(history.stat().st_mode) == 0o600
    assert stat.S_IMODE(history.parent.stat().st_mode) == 0o700
    assert "use alice" in lzma.decompress(history.read_bytes()).decode()

    again = start(shells, world)
    again.expect_exact("herodev> ")
    again.sendline("history -a")
    again.expect_exact("use alice")
    again.sendline("quit")
    assert again.wait_exit() == 0
    assert stat.S_IMODE(history.stat().st_mode) == 0o600


def test_menu_without_a_terminal_refuses(world: HerodevEnv) -> None:
    result = world.run("menu")
    assert result.returncode == 2
    assert result.stderr.startswith("error: menu needs a terminal")


# --- with a real session (btrfs, users) -------------------------------------------------------


def _processes_of(user: str, name: str) -> list[str]:
    found = subprocess.run(["pgrep", "-u", user, "-x", name], capture_output=True, text=True, check=False)
    return found.stdout.split()


@pytest.mark.system
def test_ctrl_c_stops_a_running_command_and_the_shell_goes_on(hd_world: HerodevEnv, shells: list[Pty]) -> None:
    world = hd_world
    world.run("-f", "create", "cat", check=True)
    shell = start(shells, world, timeout=60)
    shell.expect_exact("herodev> ")
    shell.sendline("enter cat -- sleep 600")
    # Interrupt only once sleep runs as the session user (a shell in between could swallow
    # a Ctrl-C that arrives between two of its commands: dash does).
    for _ in range(300):
        if _processes_of(world.user("cat"), "sleep"):
            break
        time.sleep(0.1)
    else:
        raise shell.fail("sleep never started in the session")
    shell.child.sendcontrol("c")
    shell.expect_exact("herodev> ")
    # the terminal echoed ^C without a newline: the prompt must still start a line of its own
    assert shell.child.before.endswith("\n"), shell.fail("the prompt is glued to ^C")
    assert not _processes_of(world.user("cat"), "sleep"), shell.fail("the command outlived Ctrl-C")
    shell.sendline("use cat")
    shell.expect_exact("herodev(cat)> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


@pytest.mark.system
def test_toolbar_follows_the_session_state(hd_world: HerodevEnv, shells: list[Pty]) -> None:
    world = hd_world
    world.run("-f", "create", "tom", check=True)
    shell = start(shells, world, term="xterm", color=True, PROMPT_TOOLKIT_NO_CPR="", timeout=60)
    _expect_answering_cpr(shell, "no session chosen")
    shell.sendline("use tom")
    _expect_answering_cpr(shell, "session tom | unchanged since created")
    shell.sendline(f"enter -- sh -c 'echo hi > {world.code_root}/note.txt'")
    # prompt_toolkit redraws only what differs: the new words, without the "un".
    _expect_answering_cpr(shell, r"(?<!un)changed since created", regex=True)
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_sigterm_during_a_command_ends_the_shell(world: HerodevEnv, shells: list[Pty]) -> None:
    import signal

    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("menu")  # a command waiting for input
    shell.expect_exact("choose 1-")
    shell.child.kill(signal.SIGTERM)
    assert shell.wait_exit() == 128 + signal.SIGTERM


@pytest.mark.system
def test_check_at_the_prompt_on_a_prepared_host(hd_world: HerodevEnv, shells: list[Pty]) -> None:
    """The first thing an operator does: start the shell, run check, quit."""
    shell = start(shells, hd_world)
    shell.expect_exact("herodev> ")
    shell.sendline("check")
    shell.expect(r"code root\s+pass")
    shell.expect(r"idmapped mounts\s+pass")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
