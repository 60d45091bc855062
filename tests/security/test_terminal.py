"""Class 1: a process left behind by `enter` must not type into the operator's terminal.

The attacker starts from `enter`, outlives it, and then pushes a command into every
terminal it can reach with TIOCSTI (fds 0-2, /dev/tty, every /dev/pts/N it can open, after
a setsid to grab one as its controlling tty). If any byte reached the operator's root shell
(or the herodev REPL), the shell would run it: the marker file would appear, and the
payload would show on the test's pty. It must do neither, and the attacker must have tried.
(dev.tty.legacy_tiocsti is 1 on the machines this runs on: the ioctl itself is allowed.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.conftest import HerodevEnv
from tests.e2e.ptyshell import Pty

pytestmark = pytest.mark.system

ATTACKER = r"""
import fcntl, glob, json, os, signal, sys, termios, time

signal.signal(signal.SIGHUP, signal.SIG_IGN)  # survive the end of enter's session
payload, log_path, delay = open(sys.argv[1]).read(), sys.argv[2], float(sys.argv[3])
time.sleep(delay)  # outlive enter: the operator's shell (or the REPL) is reading its tty again
tried = {}

def push(label, fd):
    try:
        for ch in payload:
            fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
        tried[label] = "INJECTED"
    except OSError as exc:
        tried[label] = exc.strerror

for fd in (0, 1, 2):
    push(f"fd{fd}", fd)
for path in ["/dev/tty", *glob.glob("/dev/pts/[0-9]*")]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        tried[path] = "open: " + exc.strerror
        continue
    push(path, fd)
    os.close(fd)
if os.fork() == 0:  # a new session that tries to take a terminal as its controlling tty
    os.setsid()
    for path in glob.glob("/dev/pts/[0-9]*"):
        try:
            fd = os.open(path, os.O_RDWR)
            fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
        except OSError:
            continue
        push("ctty " + path, fd)
    with open(log_path + ".child", "w") as out:
        json.dump(tried, out)
    os._exit(0)
os.wait()
with open(log_path, "w") as out:
    json.dump(tried, out)
"""


@pytest.fixture(scope="module")
def armed(hd_module_world: HerodevEnv) -> Iterator[tuple[HerodevEnv, Path]]:
    world = hd_module_world
    world.run("-f", "create", "sti", check=True)
    tools = world.base / "attacker"
    tools.mkdir(exist_ok=True)
    os.chmod(tools, 0o755)
    (tools / "sti.py").write_text(ATTACKER)
    os.chmod(tools / "sti.py", 0o644)
    yield world, tools


def _wait_for(path: Path, seconds: float = 20) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.1)
    raise AssertionError(f"the attacker never reported ({path}): the attack did not run")


def _arm(world: HerodevEnv, tools: Path, tag: str, payload: str) -> tuple[str, Path]:
    """The command that starts the attacker in the session, and where its report lands."""
    (tools / f"{tag}.payload").write_text(payload)
    os.chmod(tools / f"{tag}.payload", 0o644)
    inside = world.code_root / f"{tag}.json"  # the session's own tree, as the session sees it
    outside = world.sessions_dir / world.user("sti") / f"{tag}.json"
    command = f'trap "" HUP; /usr/bin/python3 {tools / "sti.py"} {tools / tag}.payload {inside} 1.5 & exit 0'
    return command, outside


def _assert_nothing_reached(tried: dict[str, str]) -> None:
    assert tried, "the attacker found nothing to try"
    assert "fd0" in tried
    injected = [label for label, outcome in tried.items() if outcome == "INJECTED"]
    assert not injected, f"TIOCSTI got through on {injected}: {tried}"


def test_a_leftover_process_cannot_type_into_the_operators_shell(armed: tuple[HerodevEnv, Path]) -> None:
    world, tools = armed
    marker = world.base / "pwned-shell"
    command, report = _arm(world, tools, "shell", f"touch {marker}\n")
    herodev = f"{sys.executable} -m herodev_shell"
    env = world.env(TERM="dumb", PS1="ROOT$ ")
    shell = pexpect.spawn(
        "/bin/bash", ["--norc", "--noprofile"], env=env, encoding="utf-8", timeout=60, dimensions=(30, 100)
    )
    try:
        shell.expect_exact("ROOT$ ")
        shell.sendline(f"{herodev} enter sti -- sh -c '{command}'; echo ENTER-RETURNED-$?")
        shell.expect_exact("ENTER-RETURNED-0")
        shell.expect_exact("ROOT$ ")
        tried = _wait_for(report)
        child_tried = _wait_for(Path(f"{report}.child"))
        time.sleep(0.5)  # anything typed into the shell has been read and run by now
        shell.sendline("echo STILL-MINE")
        shell.expect_exact("STILL-MINE")
        seen = shell.before or ""
    finally:
        shell.close(force=True)
    _assert_nothing_reached({**tried, **child_tried})
    assert not marker.exists(), "the root shell ran a command the session typed"
    assert str(marker) not in seen, f"the payload reached the operator's terminal: {seen!r}"


def test_a_leftover_process_cannot_type_into_the_repl(armed: tuple[HerodevEnv, Path]) -> None:
    world, tools = armed
    command, report = _arm(world, tools, "repl", "use injected-by-the-session\n")
    shell = Pty(world, timeout=60)
    try:
        shell.expect_exact("herodev> ")
        shell.child.sendline(f"enter sti -- sh -c '{command}'")
        shell.expect_exact("herodev> ")
        tried = _wait_for(report)
        time.sleep(0.5)
        shell.child.sendline("use sti")
        shell.expect_exact("herodev(sti)> ")
        screen = shell.log.text()
    finally:
        shell.close()
    _assert_nothing_reached(tried)
    assert "injected-by-the-session" not in screen, f"the REPL read what the session typed: {screen!r}"
