"""Driving the real `herodev` through a pseudo-terminal, as a person (or an agent) types.

Every failed expectation raises AssertionError with the whole session log, so a broken
test says what the screen showed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pexpect

from tests.conftest import HerodevEnv

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>78]")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def fake_world(base: Path, prefix: str, names: tuple[str, ...] = ("alice", "bob")) -> HerodevEnv:
    """A world with session metadata only: enough for `use`, prompts and completion, no btrfs."""
    world = HerodevEnv(base, prefix)
    world.config.write_text("")
    (base / "home").mkdir(exist_ok=True)
    world.sessions_dir.mkdir(parents=True)
    for name in names:
        (world.sessions_dir / f"{prefix}{name}.json").write_text("{}")
    return world


class _Log:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "".join(self.parts)


class Pty:
    """One herodev process on a pty. term='dumb' gives plain text; 'xterm' the full editor."""

    def __init__(
        self, world: HerodevEnv, *args: str, term: str = "dumb", color: bool = False, timeout: float = 20, **env: str
    ) -> None:
        settings = {"TERM": term, "COLUMNS": "100", "LINES": "30", "PROMPT_TOOLKIT_NO_CPR": "1", "PAGER": "cat"}
        environment = world.env(**{**settings, **env})
        if color:
            environment.pop("NO_COLOR", None)
        self.log = _Log()
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "herodev_shell", *args],
            env=environment,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(30, 100),
        )
        self.child.logfile_read = self.log

    def fail(self, why: str) -> AssertionError:
        return AssertionError(f"{why}\n--- the session so far (escape codes shown as-is):\n{self.log.text()!r}\n")

    def expect_exact(self, text: str) -> str:
        try:
            self.child.expect_exact(text)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise self.fail(f"{type(exc).__name__} waiting for {text!r}") from None
        return self.child.before

    def expect(self, pattern: str) -> re.Match[str]:
        try:
            self.child.expect(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise self.fail(f"{type(exc).__name__} waiting for /{pattern}/") from None
        match = self.child.match
        assert isinstance(match, re.Match)
        return match

    def send(self, text: str) -> None:
        self.child.send(text)

    def sendline(self, text: str) -> None:
        self.child.sendline(text)

    def wait_exit(self) -> int:
        try:
            self.child.expect(pexpect.EOF)
        except pexpect.TIMEOUT:
            raise self.fail("the shell did not end") from None
        self.child.close()
        status = self.child.exitstatus
        if status is None:
            raise self.fail(f"the shell died from signal {self.child.signalstatus}")
        return status

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendcontrol("c")
            self.child.sendcontrol("d")
            self.child.terminate(force=True)
