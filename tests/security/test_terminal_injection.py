"""Class 8, terminal injection: session text never reaches the operator's terminal raw.

Inside a session the attacker plants escape sequences (retitle the window, clear the
screen, recolour), carriage returns, newlines that forge an `error:` line or a table row,
C1 and bidi controls, in: a repository's path, a branch name, a remote URL, a commit
message, a file name outside any repository. Then the operator runs changes, repos, diff,
commit, push and log, one-shot through a pipe (TSV) and on a terminal (tables, the pager
off), and every JSON document must still parse. An attack succeeds when a raw control
character, or a line the attacker wrote, reaches stdout or stderr, or the audit log file.
"""

from __future__ import annotations

import json
import sys
import termios
from collections.abc import Iterator

import pexpect
import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import clone_into_code, git_world, in_session, make_remote

pytestmark = pytest.mark.system

# What the attacker hopes to get onto the operator's screen, raw.
RAW = ("\x1b", "\r", "\x07", "\x9b", "\x08", "\u202e")
FORGED = "error: forged"  # a whole line the attacker wrote, looking like ours

# sh printf escapes: \033 ESC, \007 BEL, \015 CR, \010 BS; \342\200\256 is U+202E (RLO).
EVIL = r"\033]0;pwned\007\033[2J\015\010\342\200\256\nerror: forged"
SETUP = f"""
set -e
evil=$(printf 'evil{EVIL}x')
mkdir "$evil" && cd "$evil" && git init -q && echo one > f && git add f
env GIT_AUTHOR_NAME=S GIT_AUTHOR_EMAIL=s@x GIT_COMMITTER_NAME=S GIT_COMMITTER_EMAIL=s@x \
    git commit -qm "$(printf 'subject{EVIL} commit')"
echo two >> f
cd {{code_root}}/example.com/org/app
git config remote.origin.url "$(printf 'https://evil.example/{EVIL}/app.git')"
echo change >> README
cd {{code_root}}
touch "$(printf 'loose{EVIL}file')"
"""
# A branch name git itself refuses (written by hand): libgit2 errors, and the error names it.
BROKEN = f"""
set -e
cd {{code_root}}/example.com/org/app
branch=$(printf 'br{EVIL}anch')
cp .git/refs/heads/main ".git/refs/heads/$branch"
printf 'ref: refs/heads/%s\\n' "$branch" > .git/HEAD
echo change >> README
"""


@pytest.fixture(scope="module")
def attacked() -> Iterator[tuple[HerodevEnv, dict[str, tuple[str, str]]]]:
    """One world, one hostile session, and what each command printed (stdout, stderr)."""
    with git_world("herodev-inject-") as (world, owner):
        trusted = make_remote(world, "trusted")
        clone_into_code(world, owner, str(trusted), "example.com/org/app")
        world.run("create", "inj", check=True)
        in_session(world, "inj", SETUP.format(code_root=world.code_root))
        world.run("create", "br", check=True)
        in_session(world, "br", BROKEN.format(code_root=world.code_root))
        outputs: dict[str, tuple[str, str]] = {}
        codes.clear()
        for name, argv in COMMANDS:
            result = world.run(*argv)
            outputs[name] = (result.stdout, result.stderr)
            codes[name] = result.returncode
        for name, argv in TERMINAL_COMMANDS:
            outputs[name] = (_on_terminal(world, argv), "")
        # Long output through the pager (a `tee` that keeps what the pager was given).
        paged = world.base / "paged.txt"
        screen = _on_terminal(world, ["diff", "-s", "inj"], lines=5, pager=f"tee {paged}")
        outputs["paged diff"] = (screen + "\n" + paged.read_text(errors="replace"), "")
        yield world, outputs


codes: dict[str, int] = {}
COMMANDS = [
    ("changes", ["changes", "-s", "inj"]),
    ("changes --all", ["changes", "-s", "inj", "--all"]),
    ("changes --json", ["changes", "-s", "inj", "--json"]),
    ("repos", ["repos", "-s", "inj"]),
    ("repos --json", ["repos", "-s", "inj", "--json"]),
    ("diff", ["diff", "-s", "inj"]),
    ("diff --stat", ["diff", "-s", "inj", "--stat"]),
    ("diff --json", ["diff", "-s", "inj", "--json"]),
    ("commit", ["commit", "-s", "inj", "-m", "operator's message"]),
    ("push", ["push", "-s", "inj"]),
    ("push --json", ["push", "-s", "inj", "--json"]),
    ("broken changes", ["changes", "-s", "br"]),
    ("broken changes --json", ["changes", "-s", "br", "--json"]),
    ("broken repos", ["repos", "-s", "br"]),
    ("broken diff", ["diff", "-s", "br"]),
    ("broken commit", ["commit", "-s", "br", "-m", "operator's message"]),
    ("broken push --json", ["push", "-s", "br", "--json"]),
    ("log", ["log"]),
    ("log --json", ["log", "--json"]),
    ("-c script", ["-c", "use inj; changes; repos --json"]),
]
# The same on a terminal: aligned tables, shortened paths, no pager.
TERMINAL_COMMANDS = [
    ("tty changes", ["changes", "-s", "inj", "--all"]),
    ("tty repos", ["repos", "-s", "inj"]),
    ("tty diff", ["diff", "-s", "inj"]),
    ("tty log", ["log"]),
]


def _no_crlf() -> None:
    """The pty would turn every \\n into \\r\\n: switch that off, so a \\r seen is one we wrote."""
    attrs = termios.tcgetattr(0)
    attrs[1] &= ~termios.ONLCR
    termios.tcsetattr(0, termios.TCSANOW, attrs)


def _on_terminal(world: HerodevEnv, argv: list[str], lines: int = 30, pager: str = "cat") -> str:
    env = world.env(TERM="xterm", NO_COLOR="1", PAGER=pager, COLUMNS="100", LINES=str(lines))
    child = pexpect.spawn(
        sys.executable,
        ["-m", "herodev_shell", *argv],
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(lines, 100),
        preexec_fn=_no_crlf,
    )
    output = child.read()
    child.close()
    return str(output)


@pytest.mark.parametrize("command", [name for name, _ in COMMANDS + TERMINAL_COMMANDS] + ["paged diff"])
def test_no_raw_control_character_or_forged_line_reaches_the_operator(
    attacked: tuple[HerodevEnv, dict[str, tuple[str, str]]], command: str
) -> None:
    _, outputs = attacked
    stdout, stderr = outputs[command]
    for stream, text in (("stdout", stdout), ("stderr", stderr)):
        for bad in RAW:
            assert bad not in text, f"{command}: raw {bad!r} on {stream}:\n{text!r}"
        for line in text.splitlines():
            assert FORGED not in line or line.index(FORGED) > 0, f"{command}: forged line on {stream}: {line!r}"
    # One valid document, or (the command failed) nothing at all: never half a document.
    if "--json" in command and (codes.get(command, 0) == 0 or stdout.strip()):
        json.loads(stdout[stdout.index("[") :] if command == "-c script" else stdout)


def test_the_attack_text_was_really_shown(attacked: tuple[HerodevEnv, dict[str, tuple[str, str]]]) -> None:
    """The other tests would pass vacuously if nothing hostile were printed at all."""
    _, outputs = attacked
    everything = "".join(out + err for out, err in outputs.values())
    assert "\\e]0;pwned\\x07\\e[2J\\r\\x08\\u202e\\nerror: forged" in everything
    assert "evil" in outputs["changes"][0] and "loose" in outputs["changes"][1]
    assert outputs["paged diff"][0].count("subject") >= 2  # on the screen and in what the pager got
    assert "evil.example" in outputs["repos"][0] or "evil.example" in outputs["changes --all"][0]
    data = json.loads(outputs["changes --json"][0])
    assert any("\x1b" in row["path"] for row in data)  # JSON keeps the real name, escaped


def test_audit_log_file_holds_no_raw_session_bytes(attacked: tuple[HerodevEnv, dict[str, tuple[str, str]]]) -> None:
    world, _ = attacked
    raw = (world.base / "audit.jsonl").read_bytes()
    assert raw, "commit and push should have been recorded"
    assert raw.isascii() and b"\x1b" not in raw
    for line in raw.decode().splitlines():
        json.loads(line)


def test_pipe_output_greps_whole(attacked: tuple[HerodevEnv, dict[str, tuple[str, str]]]) -> None:
    """In a pipe one record is one line: the evil path, newline and all, is one record whose first
    field is the whole path (another repository's row may mention the evil URL in its notes)."""
    _, outputs = attacked
    lines = outputs["changes --all"][0].splitlines()
    columns = len(lines[0].split("\t"))
    assert all(len(line.split("\t")) == columns for line in lines), "a record was split over lines"
    hits = [line for line in lines if "evil" in line.split("\t")[0]]
    assert len(hits) == 1 and hits[0].split("\t")[0].endswith("error: forgedx")
