"""Class 5: a session's processes never survive `delete -f`, and its ids are not handed on.

The attacker leaves a process behind that runs as one of the session's subordinate uids
(`unshare --map-auto`: root inside the user namespace is the first subordinate uid outside),
in a session of its own (setsid), ignoring SIGHUP. Before this was fixed, delete counted and
killed only the session's own uid, and the next session could be given the same ranges.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


def _ranges(path: str, user: str) -> list[tuple[int, int]]:
    found = []
    for line in Path(path).read_text().splitlines():
        owner, _, rest = line.partition(":")
        if owner == user:
            start, _, count = rest.partition(":")
            found.append((int(start), int(count)))
    return found


def _ids(pid: str) -> tuple[set[int], set[int]]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split()[1:] for line in status.splitlines() if ":" in line}
    return {int(x) for x in fields["Uid"]}, {int(x) for x in fields["Gid"]}


def _holders(uid_ranges: list[tuple[int, int]]) -> list[str]:
    """Pids of live processes with any uid in the ranges."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uids, _ = _ids(entry.name)
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and any(start <= u < start + count for u in uids for start, count in uid_ranges):
            found.append(entry.name)
    return found


def _wait_for_holders(uid_ranges: list[tuple[int, int]]) -> list[str]:
    for _ in range(100):
        found = _holders(uid_ranges)
        if found:
            return found
        time.sleep(0.1)
    return []


@pytest.fixture
def survivor_world(hd_world: HerodevEnv) -> Iterator[tuple[HerodevEnv, list[tuple[int, int]]]]:
    world = hd_world
    world.run("-f", "create", "sub", check=True)
    subuids = _ranges("/etc/subuid", world.user("sub"))
    assert subuids, "the session has no subordinate uids: the attack cannot be armed"
    leftover = (
        'trap "" HUP; setsid -f unshare --map-auto --setuid 0 --setgid 0 sleep 1000 </dev/null >/dev/null 2>&1; exit 0'
    )
    world.run("enter", "sub", "--", "sh", "-c", leftover, check=True, timeout=60)
    holders = _wait_for_holders(subuids)
    assert holders, "the attacker's process never ran as a subordinate uid"
    try:
        yield world, subuids
    finally:
        for pid in _holders(subuids):
            subprocess.run(["kill", "-KILL", pid], check=False)


def test_delete_without_force_counts_a_process_running_as_a_subordinate_id(
    survivor_world: tuple[HerodevEnv, list[tuple[int, int]]],
) -> None:
    world, _ = survivor_world
    result = world.run("delete", "sub")
    assert result.returncode == 1, result.stderr
    assert "process(es)" in result.stderr


def test_list_counts_a_process_running_as_a_subordinate_id(
    survivor_world: tuple[HerodevEnv, list[tuple[int, int]]],
) -> None:
    """prune keeps sessions with processes: it must see this one (list and prune share the count)."""
    world, _ = survivor_world
    listed = {s["name"]: s for s in json.loads(world.run("list", "--json", check=True).stdout)}
    assert listed["sub"]["processes"] >= 1


def test_delete_force_kills_processes_running_as_subordinate_ids(
    survivor_world: tuple[HerodevEnv, list[tuple[int, int]]],
) -> None:
    world, subuids = survivor_world
    world.run("-f", "delete", "sub", check=True)
    assert not _holders(subuids), "a process of the deleted session still runs as its subordinate uid"


def test_create_never_hands_out_ids_a_live_process_holds(hd_world: HerodevEnv) -> None:
    """A survivor (here: planted by root) holds a uid and a subordinate uid nobody owns now."""
    world = hd_world
    world.run("-f", "create", "old", check=True)
    old_uid = int(subprocess.run(["id", "-u", world.user("old")], capture_output=True, text=True).stdout)
    old_sub = _ranges("/etc/subuid", world.user("old"))[0]
    world.run("-f", "delete", "old", check=True)
    survivors = [
        subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "sleep", "1000"])
        for uid in (old_uid, old_sub[0] + 7)
    ]
    try:
        world.run("-f", "create", "fresh", check=True)
        new_uid = int(subprocess.run(["id", "-u", world.user("fresh")], capture_output=True, text=True).stdout)
        start, count = _ranges("/etc/subuid", world.user("fresh"))[0]
        assert new_uid != old_uid, "the new session got the uid a live process still runs as"
        assert not start <= old_sub[0] + 7 < start + count, "the new session's subordinate range covers a live process"
    finally:
        for proc in survivors:
            proc.kill()
            proc.wait()
