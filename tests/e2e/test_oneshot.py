"""One-shot commands, -c one-liners and stdin scripts: exit codes, shared context, clean output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv, new_prefix
from tests.e2e.ptyshell import fake_world


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    return fake_world(tmp_path, new_prefix())


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--version"], 0),
        (["help"], 0),
        (["help", "use"], 0),
        (["use", "-h"], 0),
        (["use", "alice"], 2),  # one-shot: it would be forgotten at once, so it is refused
        (["quit"], 0),
        (["use", "nobody"], 1),
        (["frobnicate"], 2),
        (["use", "--bogus"], 2),
        (["use", "alice", "bob"], 2),
        (["--bogus-global"], 2),
        (["-c", "use alice", "use"], 2),
    ],
)
def test_exit_codes(world: HerodevEnv, argv: list[str], code: int) -> None:
    result = world.run(*argv)
    assert result.returncode == code, result
    if code:
        # One clear error line (and maybe a hint), no traceback.
        assert len(_error_lines(result.stderr)) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_version_and_help_name_the_program(world: HerodevEnv) -> None:
    assert world.run("--version", check=True).stdout.startswith("herodev ")
    text = world.run("--help", check=True).stdout
    assert "-c TEXT" in text and "use" in text


def test_c_keeps_the_context_between_parts(world: HerodevEnv) -> None:
    result = world.run("-c", "use alice; use", check=True)
    # `using session X` is chatter (stderr); `use` alone prints the session: data (stdout)
    assert result.stdout.splitlines() == ["alice"]
    assert "using session alice" in result.stderr
    result = world.run("-c", "use alice\nuse --clear\nuse", check=True)
    assert result.stdout == "" and result.stderr.splitlines()[-1].startswith("no current session")


def test_c_stops_at_the_first_failure_with_its_code(world: HerodevEnv) -> None:
    result = world.run("-c", "use alice; use nobody; use bob")
    assert result.returncode == 1
    assert "bob" not in result.stdout
    assert _error_lines(result.stderr)[0].startswith("error: ")
    usage = world.run("-c", "use alice\nfrobnicate\nuse bob")
    assert usage.returncode == 2
    assert "using session bob" not in usage.stdout + usage.stderr


def test_stdin_script_runs_like_c(world: HerodevEnv) -> None:
    script = "# choose a session\nuse alice\nuse   # prints it\n"
    result = world.run(input=script)
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["alice"]
    failing = world.run(input="use bob\nuse nobody\nuse alice\n")
    assert failing.returncode == 1
    assert "using session alice" not in failing.stdout + failing.stderr
    # No prompt is written when the commands come from a pipe.
    assert "herodev>" not in result.stdout + failing.stdout


def test_script_file_on_stdin(world: HerodevEnv, tmp_path: Path) -> None:
    script = tmp_path / "script.hd"
    script.write_text("use bob; use\n")
    with script.open() as handle:
        result = subprocess.run(
            [sys.executable, "-m", "herodev_shell"],
            stdin=handle,
            capture_output=True,
            text=True,
            env=world.env(),
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result
    assert result.stdout.splitlines() == ["bob"]


def test_no_escape_codes_in_piped_output(world: HerodevEnv) -> None:
    env = {"TERM": "xterm-256color", "NO_COLOR": ""}
    for argv in (["help"], ["help", "use"], ["use", "-h"], ["-c", "use alice; use"], ["frobnicate"], ["use", "x"]):
        result = world.run(*argv, **env)
        assert "\x1b" not in result.stdout + result.stderr, (argv, result)


def test_help_fits_80_columns_when_piped(world: HerodevEnv) -> None:
    result = world.run("help", COLUMNS="80", check=True)
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_complete_helper(world: HerodevEnv) -> None:
    assert world.run("__complete", "sessions", check=True).stdout.split() == ["alice", "bob"]
    assert world.run("__complete", "sessions", "--", "b", check=True).stdout.split() == ["bob"]
    commands = world.run("__complete", "commands", "--", "us", check=True).stdout.split()
    assert commands == ["use"]
    options = world.run("__complete", "options", "use", check=True).stdout.split()
    assert "--clear" in options
    (world.code_root / "github.com" / "acme" / "widget" / ".git").mkdir(parents=True)
    assert world.run("__complete", "repos", check=True).stdout.split() == ["github.com/acme/widget"]


# --- with real sessions (btrfs, users) --------------------------------------------------------

SESSION_KEYS = {"name", "user", "path", "created"}
REPO_KEYS = {"path", "remote", "branch", "staged", "modified", "untracked", "ahead", "behind"}


@pytest.mark.system
def test_json_output_has_the_contract_keys(hd_module_world: HerodevEnv) -> None:
    world = hd_module_world
    repo = world.code_root / "github.com" / "acme" / "widget"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    world.run("-f", "create", "alice", check=True)

    for argv in (["list", "--json"], ["--json", "list"], ["sessions", "--json"]):
        rows = json.loads(world.run(*argv, check=True).stdout)
        assert isinstance(rows, list) and [r["name"] for r in rows] == ["alice"], argv
        assert set(rows[0]) >= SESSION_KEYS, (argv, rows[0])
        assert rows[0]["user"] == world.user("alice")

    info = json.loads(world.run("--json", "-c", "use alice; info", check=True).stdout)
    assert set(info) >= SESSION_KEYS and info["name"] == "alice"

    repos = json.loads(world.run("repos", "--json", check=True).stdout)
    assert [r["path"] for r in repos] == ["github.com/acme/widget"]
    assert set(repos[0]) >= REPO_KEYS
    changes = json.loads(world.run("--json", "changes", "-s", "alice", check=True).stdout)
    assert isinstance(changes, list)


@pytest.mark.system
def test_completion_sees_real_sessions(hd_module_world: HerodevEnv) -> None:
    world = hd_module_world
    world.run("-f", "create", "bobby", check=True)
    names = world.run("__complete", "sessions", "--", "bo", check=True).stdout.split()
    assert names == ["bobby"]


def _imports(world: HerodevEnv, argv: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run herodev with -X importtime: its result, and the top-level packages it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "herodev_shell", *argv],
        capture_output=True,
        text=True,
        env=world.env(),
        timeout=60,
        check=False,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return result, {line.split("|")[-1].strip().split(".")[0] for line in lines}


@pytest.mark.parametrize("argv", [["--version"], ["__complete", "sessions"], ["__complete", "repos"], ["--help"]])
def test_fast_paths_import_no_heavy_modules(world: HerodevEnv, argv: list[str]) -> None:
    result, imported = _imports(world, argv)
    assert result.returncode == 0, result
    assert not imported & {"cmd2", "rich", "pygit2", "prompt_toolkit", "mcp", "pydantic"}, sorted(imported)


@pytest.mark.parametrize("argv", [["list", "--json"], ["-c", "list --json"], ["check", "--json"]])
def test_one_shot_commands_do_not_load_the_interactive_shell(world: HerodevEnv, argv: list[str]) -> None:
    """One-shot runs parse with plain argparse: cmd2 and prompt_toolkit are most of start-up."""
    result, imported = _imports(world, argv)
    assert result.returncode in (0, 1), result  # check may fail on this host; it must still run
    assert result.stdout.lstrip().startswith("["), result.stdout
    assert not imported & {"cmd2", "prompt_toolkit", "mcp", "pydantic", "anyio"}, sorted(imported)


@pytest.mark.parametrize("argv", [["-c", "check --json; check --json"], ["check", "--json"]])
def test_a_reader_that_went_away_ends_the_run_quietly(world: HerodevEnv, argv: list[str]) -> None:
    """`herodev -c "list; repos" | head -1`: once the reader is gone, no 'internal error:
    BrokenPipeError' and no further commands; exit 141 (128 + SIGPIPE, as git reports it)."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: EPIPE for sure
    try:
        result = subprocess.run(
            [sys.executable, "-m", "herodev_shell", *argv],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=world.env(),
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""
