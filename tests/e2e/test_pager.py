"""The pager: long output on a terminal goes through $PAGER; short output, pipes, --no-pager
and the `pager = "off"` setting do not; `log` shows the last 20 entries unless asked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv
from tests.e2e.ptyshell import Pty, fake_world

PAGER = "sh -c 'echo PAGER-RAN; cat'"


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    world = fake_world(tmp_path, "tpg_")
    lines = [
        {"time": f"2026-11-27T04:{i // 60:02d}:{i % 60:02d}Z", "user": "root", "command": "create", "session": f"s{i}"}
        | {"outcome": "ok"}
        for i in range(100)
    ]
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return world


def _screen(world: HerodevEnv, shells: list[Pty], *args: str, **env: str) -> str:
    shell = Pty(world, *args, term="xterm", PAGER=PAGER, **env)
    shells.append(shell)
    shell.wait_exit()
    return shell.log.text()


def test_long_output_on_a_terminal_goes_through_the_pager(world: HerodevEnv, shells: list[Pty]) -> None:
    screen = _screen(world, shells, "log", "--all")
    assert screen.startswith("PAGER-RAN"), screen
    assert "s0" in screen and "s99" in screen


def test_short_output_is_not_paged(world: HerodevEnv, shells: list[Pty]) -> None:
    screen = _screen(world, shells, "log", "--last", "3")
    assert "PAGER-RAN" not in screen and "s99" in screen and "s96" not in screen


@pytest.mark.parametrize(
    ("args", "env"), [(("--no-pager", "log", "--all"), {}), (("log", "--all"), {"HERODEV_PAGER": "off"})]
)
def test_no_pager_flag_and_setting(world: HerodevEnv, shells: list[Pty], args: tuple[str, ...], env: dict) -> None:  # type: ignore[type-arg]
    screen = _screen(world, shells, *args, **env)
    assert "PAGER-RAN" not in screen and "s0" in screen and "s99" in screen


def test_a_pipe_is_never_paged(world: HerodevEnv) -> None:
    result = world.run("log", "--all", PAGER=PAGER, check=True)
    assert "PAGER-RAN" not in result.stdout
    assert len(result.stdout.splitlines()) == 101  # the header and one line per entry


def test_log_shows_the_last_20_unless_asked(world: HerodevEnv) -> None:
    result = world.run("log", check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 21 and lines[-1].split("\t")[3] == "s99" and lines[1].split("\t")[3] == "s80"
    assert "the last 20 of 100 entries" in result.stderr
    assert len(json.loads(world.run("log", "--json", check=True).stdout)) == 100  # programs get all
    assert len(json.loads(world.run("log", "--json", "--last", "5", check=True).stdout)) == 5
    assert world.run("log", "--all", "--last", "5").returncode == 2


def test_the_shell_pages_too(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = Pty(world, term="xterm", PAGER=PAGER)
    shells.append(shell)
    shell.expect_exact("herodev> ")
    shell.sendline("log --all")
    shell.expect_exact("PAGER-RAN")
    shell.expect_exact("s99")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
