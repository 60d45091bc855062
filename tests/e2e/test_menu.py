"""`menu` driven as a newcomer would: create a session, enter it, delete it."""

from __future__ import annotations

import pwd

import pytest

from tests.conftest import HerodevEnv
from tests.e2e.ptyshell import Pty

pytestmark = pytest.mark.system


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_create_enter_delete_with_numbers(hd_world: HerodevEnv, shells: list[Pty]) -> None:
    world = hd_world
    shell = Pty(world, timeout=60)
    shells.append(shell)
    shell.expect_exact("herodev> ")
    shell.sendline("menu")
    shell.expect_exact("No sessions yet.")
    shell.expect_exact("1) create a new session")
    shell.expect_exact("choose 1-2: ")
    shell.sendline("7")  # out of range: asked again
    shell.expect_exact("please type a number from 1 to 2")
    shell.sendline("1")
    shell.expect_exact("name of the new session: ")
    shell.sendline("mia")
    shell.expect_exact("created session mia")
    assert _user_exists(world.user("mia"))

    shell.expect_exact("Session mia: what now?")
    shell.expect_exact("1) enter")
    shell.expect(r"(\d)\) delete")
    delete_number = shell.child.match.group(1)
    shell.expect(r"choose 1-(\d+): ")
    shell.sendline("1")
    # A login shell as the session user (its prompt names the user); run a command, leave it.
    shell.expect_exact(world.user("mia"))
    shell.sendline("id -un; echo DONE-$((6*7))")
    shell.expect_exact("DONE-42")
    assert world.user("mia") in shell.child.before, shell.fail("enter did not run as the session user")
    shell.sendline("exit")

    shell.expect_exact("Session mia: what now?")
    shell.expect(r"choose 1-\d+: ")
    shell.sendline(delete_number)
    shell.expect_exact("Delete session mia? [y/N] ")
    shell.sendline("n")
    shell.expect_exact("not deleted")
    assert _user_exists(world.user("mia"))
    shell.expect(r"choose 1-\d+: ")
    shell.sendline("delete")  # the action's name works as well as its number
    shell.expect_exact("Delete session mia? [y/N] ")
    shell.sendline("y")
    shell.expect_exact("deleted session mia")
    # Back at the session list, which is empty again.
    shell.expect_exact("No sessions yet.")
    shell.expect_exact("choose 1-2: ")
    shell.sendline("2")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    assert not _user_exists(world.user("mia"))
    assert not (world.sessions_dir / f"{world.user('mia')}.json").exists()


def test_arrow_keys_and_number_keys_on_a_colour_terminal(hd_world: HerodevEnv, shells: list[Pty]) -> None:
    world = hd_world
    world.run("-f", "create", "ann", check=True)
    shell = Pty(world, term="xterm", color=True, timeout=60)
    shells.append(shell)
    shell.expect(r"herodev>")
    shell.sendline("menu")
    shell.expect_exact("Sessions:")
    shell.expect_exact("quit the menu")
    shell.send("\r")  # Enter: the first entry, ann
    shell.expect_exact("Session ann: what now?")
    shell.expect_exact("quit the menu")
    shell.send("6")  # a number key selects "back to the sessions"
    shell.send("\r")
    shell.expect_exact("Sessions:")
    shell.expect_exact("quit the menu")
    shell.send("\x1b[B")  # Down, Down: "quit the menu"
    shell.send("\x1b[B")
    shell.send("\r")
    shell.expect(r"herodev>")
    shell.sendline("use")
    shell.expect_exact("no current session")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
