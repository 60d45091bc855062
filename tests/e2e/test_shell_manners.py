"""Shell manners, typed as a user types them: exit, clear, ?, "did you mean", herodev's own
error format for every usage error, hints in the shell's words, history across runs, script
errors with line numbers, the dry-run prompt, and JSON purity under -c and stdin scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv, new_prefix
from tests.e2e.ptyshell import Pty, fake_world


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    world = fake_world(tmp_path, new_prefix())
    entries = [{"time": "2026-11-27T04:56:28Z", "user": "root", "command": "create", "session": "alice"}]
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(e | {"outcome": "ok"}) + "\n" for e in entries))
    return world


def start(shells: list[Pty], world: HerodevEnv, *args: str, **env: str) -> Pty:
    shell = Pty(world, *args, **env)
    shells.append(shell)
    return shell


def test_exit_leaves_like_quit(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("exit")
    assert shell.wait_exit() == 0


def test_question_mark_is_help_and_help_lists_the_shell_words(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("?")
    for word in ("changes", "alias", "clear", "exit", "history", "quit"):
        shell.expect(rf"\n  {word}[ ,]")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_clear_clears_a_terminal_and_writes_nothing_to_a_pipe(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world, term="xterm")
    shell.expect_exact("herodev> ")
    shell.sendline("clear")
    shell.expect_exact("\x1b[2J")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    piped = world.run("-c", "clear", check=True)
    assert piped.stdout == "" and piped.stderr == ""


def test_did_you_mean_for_commands_and_options(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("chnages")
    shell.expect_exact("error: unknown command 'chnages'")
    shell.expect_exact("hint: did you mean 'changes'?")
    shell.sendline("log --jsn")
    shell.expect_exact("error: log: unrecognized arguments: --jsn")
    shell.expect_exact("hint: did you mean --json? usage: log")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    one_shot = world.run("chnages")
    assert one_shot.returncode == 2 and "did you mean 'changes'?" in one_shot.stderr


@pytest.mark.parametrize("line", ["quit now", "exit now", "list --bogus", "history --bogus", "help --bogus"])
def test_every_usage_error_is_in_herodevs_format(world: HerodevEnv, line: str) -> None:
    result = world.run("-c", line)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"error: {line.split()[0]}: "), result.stderr
    assert lines[1].startswith("hint: ") and len(lines) == 2, result.stderr
    assert "Usage:" not in result.stderr and "usage: Usage" not in result.stderr


def test_hints_name_the_shell_command_inside_the_shell(world: HerodevEnv, shells: list[Pty]) -> None:
    one_shot = world.run("repos", "-s", "nosuch")
    assert "hint: 'herodev list' shows the sessions" in one_shot.stderr
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("repos -s nosuch")
    shell.expect_exact("hint: 'list' shows the sessions")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_history_shows_earlier_runs(world: HerodevEnv, shells: list[Pty]) -> None:
    first = start(shells, world)
    first.expect_exact("herodev> ")
    first.sendline("use alice")
    first.expect_exact("herodev(alice)> ")
    first.sendline("quit")
    assert first.wait_exit() == 0
    again = start(shells, world)
    again.expect_exact("herodev> ")
    again.sendline("history")  # no -a: Up and Ctrl-R reach it, so history shows it
    again.expect_exact("use alice")
    again.sendline("quit")
    assert again.wait_exit() == 0


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_script_errors_name_their_line(world: HerodevEnv, how: str) -> None:
    script = "use alice\n\nlog --last 1\nfrobnicate\nuse bob\n"
    result = world.run("-c", script) if how == "-c" else world.run(input=script)
    assert result.returncode == 2
    assert "error: line 4: unknown command 'frobnicate'" in result.stderr.splitlines()
    usage = world.run("-c", "use alice; log --bogus")
    assert "error: line 1: log: unrecognized arguments: --bogus" in usage.stderr.splitlines()


def test_a_dry_run_shell_says_so_in_its_prompt(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world, "-n")
    shell.expect_exact("[dry run] herodev> ")
    shell.sendline("use alice")
    shell.expect_exact("[dry run] herodev(alice)> ")  # still ends in the exact prompt CLI.md names
    shell.sendline("quit")
    assert shell.wait_exit() == 0
    plain = start(shells, world)
    plain.expect_exact("herodev> ")
    plain.sendline("quit")
    assert plain.wait_exit() == 0
    assert "dry run" not in plain.log.text()


@pytest.mark.parametrize("how", ["-c", "stdin", "--json -c"])
def test_json_stays_pure_in_scripts(world: HerodevEnv, how: str) -> None:
    if how == "-c":
        result = world.run("-c", "use alice; log --json")
    elif how == "stdin":
        result = world.run(input="use alice\nuse\nlog --json\n")
    else:
        result = world.run("--json", "-c", "use alice; log")
    assert result.returncode == 0, result
    text = result.stdout
    if how == "stdin":  # `use` alone prints the session name: that is data, and comes first
        first, _, text = text.partition("\n")
        assert first == "alice"
    assert json.loads(text)[0]["session"] == "alice"
    assert "using session alice" in result.stderr


def test_one_shot_use_says_it_would_not_last(world: HerodevEnv) -> None:
    result = world.run("use", "alice")
    assert result.returncode == 2 and result.stdout == ""
    assert "lasts only inside the shell or -c" in result.stderr
    assert "-s alice" in result.stderr


def test_menu_shows_its_keys_and_q_goes_back(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world)
    shell.expect_exact("herodev> ")
    shell.sendline("menu")
    shell.expect_exact("Sessions:")
    shell.expect_exact("q goes back")
    shell.expect(r"choose 1-\d+: ")
    shell.sendline("alice")
    shell.expect_exact("Session alice: what now?")
    shell.expect(r"choose 1-\d+: ")
    shell.sendline("q")  # back to the sessions
    shell.expect_exact("Sessions:")
    shell.expect(r"choose 1-\d+: ")
    shell.sendline("q")  # out of the menu
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0


def test_info_takes_dash_s_like_the_other_session_commands(world: HerodevEnv) -> None:
    shown = world.run("info", "-s", "alice", check=True)
    rows = dict(line.split("\t", 1) for line in shown.stdout.splitlines()[1:])
    assert rows["session"] == "alice" and "base_generation" not in shown.stdout  # labels, not keys
    both = world.run("info", "alice", "-s", "bob")
    assert both.returncode == 2 and "two sessions named" in both.stderr


def test_arrow_menu_shows_its_keys_and_esc_and_q_go_back(world: HerodevEnv, shells: list[Pty]) -> None:
    shell = start(shells, world, term="xterm", color=True)
    shell.expect_exact("herodev> ")
    shell.sendline("menu")
    shell.expect_exact("q or Esc goes back")
    shell.expect_exact("quit the menu")  # the whole list is drawn: its keys are live
    shell.send("\x1b")
    shell.expect_exact("herodev> ")
    shell.sendline("menu")
    shell.expect_exact("quit the menu")
    shell.send("\r")  # the first session
    shell.expect_exact("Session alice: what now?")
    shell.expect_exact("quit the menu")
    shell.send("q")  # back to the sessions
    shell.expect_exact("Sessions:")
    shell.expect_exact("quit the menu")
    shell.send("q")
    shell.expect_exact("herodev> ")
    shell.sendline("quit")
    assert shell.wait_exit() == 0
