"""Class 9: sessions cannot see each other.

Session "spy" tries to read session "mark": its home, its /tmp, its processes' command lines
(a token in argv) and mount tables, and (through a snapshot of its own tree) the sessions'
metadata. Each attempt must find nothing of mark's.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from herodev_shell.system import btrfs
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

TOKEN = "ghp_secret_token_of_mark"


def _in(world: HerodevEnv, name: str, script: str) -> subprocess.CompletedProcess[str]:
    return world.run("enter", name, "--", "sh", "-c", script, timeout=60)


@pytest.fixture(scope="module")
def pair(hd_module_world: HerodevEnv) -> Iterator[HerodevEnv]:
    world = hd_module_world
    for name in ("spy", "mark"):
        world.run("-f", "create", name, check=True)
    # mark: a secret in its home and its /tmp, and a long-running process with a token in argv
    assert _in(world, "mark", f"echo {TOKEN} > ~/secret; echo {TOKEN} > /tmp/secret-{world.prefix}").returncode == 0
    leftover = f"setsid -f sh -c 'sleep 1000; : {TOKEN}' </dev/null >/dev/null 2>&1"
    assert _in(world, "mark", leftover).returncode == 0
    for _ in range(100):
        found = subprocess.run(["pgrep", "-u", world.user("mark"), "-f", TOKEN], capture_output=True, text=True)
        if found.stdout.strip():
            break
        time.sleep(0.1)
    else:
        raise AssertionError("mark's process with the token never started: the attack is not armed")
    yield world


def test_homes_are_private(pair: HerodevEnv) -> None:
    world = pair
    home = f"/home/{world.user('mark')}"
    assert os.stat(home).st_mode & 0o077 == 0, oct(os.stat(home).st_mode)
    result = _in(world, "spy", f"cat {home}/secret; ls {home}")
    assert TOKEN not in result.stdout


def test_tmp_is_private_and_persists_in_the_session(pair: HerodevEnv) -> None:
    world = pair
    result = _in(world, "spy", f"cat /tmp/secret-{world.prefix}; ls -a /tmp")
    assert TOKEN not in result.stdout and "secret" not in result.stdout, result.stdout
    host = Path(f"/tmp/secret-{world.prefix}")
    assert not host.exists() or TOKEN not in host.read_text(), "mark's /tmp is the host's"
    assert (world.sessions_dir / f"{world.user('mark')}.tmpdir" / f"secret-{world.prefix}").read_text().strip() == TOKEN
    again = _in(world, "mark", f"cat /tmp/secret-{world.prefix}")
    assert again.stdout.strip() == TOKEN, "mark's /tmp did not last from one enter to the next"


def test_other_sessions_processes_are_invisible(pair: HerodevEnv) -> None:
    world = pair
    script = "ps -eo user,args; cat /proc/[0-9]*/cmdline | tr '\\0' ' '; ls /proc | grep -c '^[0-9]'"
    result = _in(world, "spy", script)
    assert result.returncode == 0, result.stderr
    assert TOKEN not in result.stdout, "spy read mark's command line"
    assert world.user("mark") not in result.stdout
    assert "root" not in result.stdout.split(), "spy sees root's processes"


def test_other_sessions_mount_tables_are_invisible(pair: HerodevEnv) -> None:
    world = pair
    result = _in(world, "spy", "cat /proc/[0-9]*/mountinfo; cat /proc/self/mountinfo")
    assert world.user("mark") not in result.stdout, "spy read a mount table naming mark's snapshot"


def test_a_snapshot_of_its_own_tree_carries_no_sessions_metadata(pair: HerodevEnv) -> None:
    world = pair
    assert btrfs.is_subvolume(world.sessions_dir), "the sessions dir is not a subvolume of its own"
    code = world.code_root
    result = _in(world, "spy", f"btrfs subvolume snapshot {code} {code}/copy >/dev/null && ls -a {code}/copy/.sessions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [".", ".."], f"the snapshot holds: {result.stdout}"
    plain = world.sessions_dir / world.user("spy") / ".sessions"
    assert sorted(os.listdir(plain)) == [], "the session's own snapshot holds sessions metadata"
