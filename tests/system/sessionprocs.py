"""Steps the signal tests share: herodev running in the background, and a session's processes
appearing and going away (polled with a deadline, never a sleep)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import HerodevEnv


def start_herodev(world: HerodevEnv, *args: str) -> subprocess.Popen[str]:
    """`herodev ARGS` in the background with no terminal anywhere (stdin /dev/null, pipes out)."""
    return subprocess.Popen(
        [sys.executable, "-m", "herodev_shell", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world.env(),
        text=True,
    )


def wait_for_command(user: str, name: str, seconds: float = 20) -> None:
    """Until a process called name runs as user: the command inside the session started."""
    deadline = time.monotonic() + seconds
    while subprocess.run(["pgrep", "-u", user, name], capture_output=True).returncode != 0:
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)


def wait_until_gone(user: str, seconds: float = 3) -> None:
    """Until no process runs as user: nothing of the command outlived herodev."""
    deadline = time.monotonic() + seconds
    while subprocess.run(["pgrep", "-u", user], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the command runs on after herodev ended"
        time.sleep(0.1)
