"""The bash, zsh and fish completion scripts, run by the real shells.

`herodev` on PATH is a wrapper around this checkout's Python, so the scripts call the code
under test. Sessions are metadata files in a temporary code root (no btrfs needed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from herodev_shell.cli import completion_scripts
from tests.conftest import HerodevEnv, new_prefix
from tests.e2e.ptyshell import fake_world

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "herodev_shell" / "completions"


def test_committed_scripts_match_the_generator() -> None:
    for filename, generate in completion_scripts.SCRIPTS.items():
        committed = (SCRIPTS / filename).read_text()
        assert committed == generate(), (
            f"herodev_shell/completions/{filename} is out of date with the parsers: "
            "run `python3 -m herodev_shell.cli.completion_scripts --write` and commit the result"
        )


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    world = fake_world(tmp_path, new_prefix(), names=("alice", "bob", "carol"))
    snapshot = world.sessions_dir / world.user("alice")
    (snapshot / "github.com" / "acme" / "widget" / ".git").mkdir(parents=True)
    (snapshot / "github.com" / "acme" / "gadget" / ".git").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "herodev"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m herodev_shell "$@"\n')
    wrapper.chmod(0o755)
    world.extra_env["PATH"] = f"{bin_dir}:{os.environ['PATH']}"
    world.extra_env["PYTHONPATH"] = str(REPO)
    return world


# --- bash ------------------------------------------------------------------------------------

BASH_DRIVER = r"""
source "$1"
complete -p herodev
shift
for line in "$@"; do
    read -r -a COMP_WORDS <<< "$line"
    [[ $line == *' ' ]] && COMP_WORDS+=('')
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMPREPLY=()
    _herodev herodev "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
done
"""


def _bash(world: HerodevEnv, *lines: str) -> list[str]:
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "driver", str(SCRIPTS / "herodev.bash"), *lines],
        capture_output=True,
        text=True,
        env=world.env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result
    out = result.stdout.splitlines()
    assert out[0] == "complete -F _herodev herodev", out
    assert not result.stderr, result.stderr
    return out[1:]


def test_bash(world: HerodevEnv) -> None:
    got = _bash(
        world,
        "herodev us",
        "herodev use ",
        "herodev -f delete b",
        "herodev info --json ",
        "herodev use --c",
        "herodev init --size 10",
        "herodev diff -s alice github.com/acme/w",
        "herodev --code-root /nonexistent use ",
        "herodev help us",
        "herodev -",
        "herodev use alice ",
    )
    assert got[0] == "use"
    assert got[1] == "alice bob carol"
    assert got[2] == "bob"
    assert got[3] == "alice bob carol"
    assert got[4] == "--clear"
    assert got[5].split() == ["10G", "100G"]
    assert got[6] == "github.com/acme/widget"
    assert got[7] == ""  # another code root: its (missing) sessions, not these
    assert got[8] == "use"
    assert "--json" in got[9].split() and "--code-root" in got[9].split()
    assert got[10] == ""  # use takes one name


# --- fish ------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (CI installs it)")
def test_fish(world: HerodevEnv) -> None:
    lines = ["herodev us", "herodev use ", "herodev -f delete b", "herodev init --size 10", "herodev use --c"]
    lines += ["herodev diff --st", "herodev init --size "]
    script = f"source {SCRIPTS / 'herodev.fish'}\n" + "".join(
        f"echo (complete -C{line!r} | string join ,)\n" for line in lines
    )
    result = subprocess.run(
        ["fish", "--no-config", "-c", script], capture_output=True, text=True, env=world.env(), timeout=120
    )
    assert result.returncode == 0, result
    got = result.stdout.splitlines()
    assert got[0].split("\t")[0] == "use", got
    assert got[1] == "alice,bob,carol"
    assert got[2] == "bob"
    assert sorted(got[3].split(",")) == ["100G", "10G"]
    assert got[4].startswith("--clear")
    assert got[5] == "--stat\ta summary of changed files instead of the patches"  # options are described
    assert got[6] == "10G,20G,50G,100G,200G,500G,1T"  # sizes by size, not as text


# --- zsh -------------------------------------------------------------------------------------

ZSHRC = """
PS1='ZSH%% '
fpath=({scripts} $fpath)
autoload -U compinit && compinit -u -D
bindkey -e
unsetopt beep
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (CI installs it)")
def test_zsh(world: HerodevEnv, tmp_path: Path) -> None:
    zdotdir = tmp_path / "zdot"
    zdotdir.mkdir()
    (zdotdir / ".zshrc").write_text(ZSHRC.format(scripts=SCRIPTS))
    env = world.env(ZDOTDIR=str(zdotdir), TERM="xterm")
    child = pexpect.spawn("zsh", ["-i"], env=env, encoding="utf-8", timeout=30, dimensions=(30, 100))
    log: list[str] = []
    child.logfile_read = type("Log", (), {"write": lambda _, s: log.append(s), "flush": lambda _: None})()

    def completed(typed: str) -> str:
        """Type, press Tab, then prefix the line with `echo GOT:` and run it: the completed line."""
        child.send(typed + "\t")
        child.send("\x01echo GOT: \r")
        child.expect(r"GOT: ([^\r\n]*)\r\n")
        line = child.match.group(1)
        child.expect_exact("ZSH% ")
        return line

    try:
        child.expect_exact("ZSH% ")
        assert completed("herodev us") == "herodev use"
        assert completed("herodev use a") == "herodev use alice"
        assert completed("herodev -f delete c") == "herodev -f delete carol"
        assert completed("herodev use --cl") == "herodev use --clear"
        assert completed("herodev diff --st") == "herodev diff --stat"  # through _describe
        line = completed("herodev diff -s alice github.com/acme/g")
        assert line == "herodev diff -s alice github.com/acme/gadget"
        child.sendline("exit")
        child.expect(pexpect.EOF)
    except (pexpect.TIMEOUT, pexpect.EOF, AssertionError) as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\n--- zsh session:\n{''.join(log)!r}") from None
    finally:
        if child.isalive():
            child.terminate(force=True)
