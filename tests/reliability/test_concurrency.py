"""8 herodev processes creating, listing and deleting 40 sessions at once.

The promise: the only errors are "already exists" and "not found", nothing is left half
made (no orphan user, snapshot, base or metadata), and the final list is exactly the
sessions that should remain.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from herodev_shell.system.users import users_with_prefix
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

WORKERS = 8
NAMES = [f"c{i:02d}" for i in range(40)]
KEEP = NAMES[:20]
DROP = NAMES[20:]
ALLOWED_ERRORS = ("already exists", "no session named")


def attempts(names: list[str], worker: int, overlap: int = 2) -> list[str]:
    """Each name is tried by `overlap` workers, in a different order for each."""
    start = worker * len(names) // WORKERS
    count = -(-len(names) // WORKERS) * overlap  # ceil: together the workers cover every name
    mine = [names[(start + k) % len(names)] for k in range(count)]
    random.Random(worker).shuffle(mine)
    return mine


def worker(world: HerodevEnv, verb: str, names: list[str]) -> list[tuple[str, int, str]]:
    results = []
    for index, name in enumerate(names):
        args = ["-f", verb, name]
        done = subprocess.run(
            [sys.executable, "-m", "herodev_shell", *args],
            capture_output=True,
            text=True,
            env=world.env(),
            timeout=300,
            check=False,
        )
        results.append((f"{verb} {name}", done.returncode, done.stderr.strip()))
        if index == len(names) // 2:  # list while the others change things
            listing = subprocess.run(
                [sys.executable, "-m", "herodev_shell", "list", "--json"],
                capture_output=True,
                text=True,
                env=world.env(),
                timeout=300,
                check=False,
            )
            results.append(("list", listing.returncode, listing.stderr.strip()))
            if listing.returncode == 0:
                json.loads(listing.stdout)
    return results


def run_all(world: HerodevEnv, verb: str, names: list[str]) -> list[tuple[str, int, str]]:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(worker, world, verb, attempts(names, w)) for w in range(WORKERS)]
        return [result for future in futures for result in future.result()]


def unexpected(results: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    return [r for r in results if r[1] != 0 and not any(text in r[2] for text in ALLOWED_ERRORS)]


def test_eight_processes_forty_sessions(rworld: HerodevEnv) -> None:
    created = run_all(rworld, "create", NAMES)
    assert not unexpected(created), unexpected(created)
    successes = [r[0] for r in created if r[0].startswith("create") and r[1] == 0]
    assert sorted(successes) == sorted(f"create {n}" for n in NAMES)  # each made exactly once

    deleted = run_all(rworld, "delete", DROP)
    assert not unexpected(deleted), unexpected(deleted)
    assert sorted(r[0] for r in deleted if r[0].startswith("delete") and r[1] == 0) == sorted(
        f"delete {n}" for n in DROP
    )

    listed = json.loads(rworld.run("list", "--json", check=True).stdout)
    assert [s["name"] for s in listed] == KEEP
    assert all(not s["problems"] for s in listed)
    session_users = sorted(u.name for u in users_with_prefix(rworld.prefix) if u.is_session_user)
    assert session_users == sorted(rworld.user(n) for n in KEEP)
    on_disk = sorted(e for e in os.listdir(rworld.sessions_dir) if e.startswith(rworld.prefix))
    expected = sorted(rworld.user(n) + suffix for n in KEEP for suffix in ("", ".base", ".json"))
    assert on_disk == expected
    rows = json.loads(rworld.run("check", "--json").stdout)
    assert all(r["status"] == "pass" for r in rows if r["name"] in ("leftovers", "sessions")), rows
