"""Tables as a user sees them: the real herodev on a pty at 80 and 200 columns (with and
without colour), and in a pipe where `grep` finds each record whole on one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.conftest import HerodevEnv, new_prefix
from tests.e2e.ptyshell import fake_world, strip_ansi

LONG_ERROR = (
    "push failed in 1 repository: gitlab.example.org/platform-team/infrastructure/deployment-scripts "
    "(! [rejected] main -> main (fetch first))"
)
HEADERS = ["time", "user", "command", "session", "outcome", "error"]


@pytest.fixture
def world(tmp_path: Path) -> HerodevEnv:
    world = fake_world(tmp_path, new_prefix())
    entries = []
    for i, session in enumerate(["alice", "a-rather-long-session-name", "bob"]):
        entry = {"time": f"2026-11-27T04:5{i}:28Z", "user": "root", "command": "push", "session": session}
        entry |= {"outcome": "failed", "error": f"{LONG_ERROR} #{i}"} if i != 2 else {"outcome": "ok"}
        entries.append(entry)
    (tmp_path / "audit.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return world


def _screen(world: HerodevEnv, columns: int, *args: str, color: bool = False) -> list[str]:
    env = world.env(TERM="xterm", COLUMNS=str(columns), LINES="40", PAGER="cat")
    if color:
        env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "herodev_shell", *args],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, columns),
    )
    text = child.read()
    child.close()
    assert child.exitstatus == 0, text
    return [strip_ansi(line) for line in text.replace("\r\n", "\n").splitlines()]


@pytest.mark.parametrize("color", [False, True])
def test_80_columns_no_line_wraps_headers_and_times_whole(world: HerodevEnv, color: bool) -> None:
    lines = _screen(world, 80, "log", color=color)
    assert all(len(line) <= 80 for line in lines), lines
    # no header cut; the long error goes whole under its row instead of squeezed into a column
    assert lines[0].split() == HEADERS[:-1]
    times = [line for line in lines if line.startswith("2026-11-27 04:5")]
    assert len(times) == 3  # one row per entry, each starting with its whole time
    assert any("a-rather-long-session-name" in line for line in times)
    after = lines[lines.index(times[0]) + 1 :]
    below = after[: next(i for i, line in enumerate(after) if not line.startswith("    "))]
    assert " ".join(line.strip() for line in below) == f"{LONG_ERROR} #0", lines
    assert not any(line.endswith(" ") for line in lines)


def test_200_columns_shows_the_whole_record_on_its_row(world: HerodevEnv) -> None:
    lines = _screen(world, 200, "log")
    rows = [line for line in lines if line.startswith("2026-11-27 04:5")]
    assert len(rows) == 3 and all(len(line) <= 200 for line in lines)
    assert rows[0].split()[3:] == ["push", "alice", "failed"]
    assert lines[lines.index(rows[0]) + 1] == f"    {LONG_ERROR} #0"  # whole, on one line under its row


def test_no_color_on_a_terminal_is_still_a_table_not_tsv(world: HerodevEnv) -> None:
    lines = _screen(world, 120, "log")  # NO_COLOR is set: colour goes, the terminal layout stays
    assert "\t" not in "".join(lines) and set(lines[1]) <= {"─", " "}


def test_a_pipe_gets_one_whole_record_per_line(world: HerodevEnv) -> None:
    out = world.run("log", COLUMNS="40", check=True).stdout
    assert out.splitlines()[0].split("\t") == HEADERS
    grep = subprocess.run(["grep", "a-rather-long"], input=out, capture_output=True, text=True, check=True)
    (line,) = grep.stdout.splitlines()
    assert line.split("\t") == [
        "2026-11-27 04:51:28",
        "root",
        "push",
        "a-rather-long-session-name",
        "failed",
        f"{LONG_ERROR} #1",
    ]
    cut = subprocess.run(["cut", "-f4"], input=out, capture_output=True, text=True, check=True)
    assert cut.stdout.split() == ["session", "alice", "a-rather-long-session-name", "bob"]
    assert not any(line.endswith(" ") for line in out.splitlines())
