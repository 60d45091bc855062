"""Resource limits for real: cgroups of this machine, real users, real runaway processes.

Each test runs the real herodev; every runaway is bounded (a loop of at most a few hundred
sleeps, a few hundred MiB) and has a hard timeout, so a broken limit fails the test instead
of taking the machine down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from herodev_shell.system import cgroups
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

HOG = "x = b'x' * (300 << 20); print('hog survived')"  # writes 300 MiB: every page is touched


@pytest.fixture(scope="module")
def world(hd_module_world: HerodevEnv) -> Iterator[HerodevEnv]:
    if not cgroups.detect().usable:
        pytest.skip("no cgroup controllers mounted")
    yield hd_module_world


def info(world: HerodevEnv, name: str) -> dict[str, object]:
    return json.loads(world.run("info", name, "--json", check=True).stdout)


def group_of(world: HerodevEnv, name: str) -> cgroups.Group:
    return cgroups.session_group(cgroups.detect(), world.cgroup, world.user(name))


def background(world: HerodevEnv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "herodev_shell", *args],
        env=world.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_limits_are_stored_shown_and_enforced_by_the_kernel(world: HerodevEnv) -> None:
    world.run("create", "shown", "--memory", "96M", "--cpus", "0.5", "--tasks", "77", check=True)
    try:
        data = info(world, "shown")
        assert data["limits"] == {"memory": 96 << 20, "cpus": 0.5, "tasks": 77}
        assert isinstance(data["usage"], dict) and "cpu_seconds" in data["usage"]
        listed = {s["name"]: s for s in json.loads(world.run("list", "--json", check=True).stdout)}
        assert listed["shown"]["limits"] == {"memory": 96 << 20, "cpus": 0.5, "tasks": 77}
        enforced = cgroups.read_limits(group_of(world, "shown"))
        assert enforced == cgroups.Limits(96 << 20, 0.5, 77)
        table = world.run("info", "shown", check=True).stdout
        assert "memory limit" in table and "96.0M" in table and "tasks limit" in table
        # settings give the defaults; options win over them
        world.run("create", "dflt", "--cpus", "1", check=True, HERODEV_MEMORY="128M", HERODEV_TASKS="300")
        assert info(world, "dflt")["limits"] == {"memory": 128 << 20, "cpus": 1.0, "tasks": 300}
        bad = world.run("create", "badlimit", "--memory", "lots")
        assert bad.returncode == 2 and "invalid size" in bad.stderr
        assert "badlimit" not in world.run("list", check=True).stdout
    finally:
        world.run("delete", "-f", "shown")
        world.run("delete", "-f", "dflt")
    assert not group_of(world, "shown").exists(), "delete must remove the session's cgroup"


def test_memory_hog_is_killed_inside_its_session_only(world: HerodevEnv) -> None:
    world.run("create", "hog", "--memory", "64M", check=True)
    world.run("create", "calm", "--memory", "512M", check=True)
    calm = background(world, "exec", "calm", "--timeout", "60", "--", "sleep", "45")
    try:
        wait_for(lambda: len(cgroups.members(group_of(world, "calm"))) >= 1)
        hog = world.run("exec", "hog", "--", "python3", "-c", HOG, timeout=120)
        assert hog.returncode == 137, (hog.returncode, hog.stdout, hog.stderr)  # SIGKILL from the OOM killer
        assert "hog survived" not in hog.stdout
        hog_usage = info(world, "hog")["usage"]
        assert isinstance(hog_usage, dict) and hog_usage["oom_kills"] >= 1
        # the other session's process and this test go on
        assert calm.poll() is None, "a process of another session died with the hog"
        assert len(cgroups.members(group_of(world, "calm"))) >= 1
        calm_usage = info(world, "calm")["usage"]
        assert isinstance(calm_usage, dict) and not calm_usage["oom_kills"]
        # the same program fits in the session with room for it
        fits = world.run("exec", "calm", "--", "python3", "-c", HOG, timeout=120)
        assert fits.returncode == 0 and "hog survived" in fits.stdout
    finally:
        calm.kill()
        calm.wait()
        world.run("delete", "-f", "hog")
        world.run("delete", "-f", "calm")


def test_fork_bomb_stops_at_the_task_limit(world: HerodevEnv) -> None:
    world.run("create", "bomb", "--tasks", "50", check=True)
    world.run("create", "bystander", check=True)
    # bounded: at most 400 sleeps; with the limit, forks fail long before
    bomb = "i=0; while [ $i -lt 400 ]; do sleep 60 & i=$((i+1)); done 2>/dev/null; echo finished"
    try:
        result = world.run("exec", "bomb", "--timeout", "30", "--", "sh", "-c", bomb, timeout=90)
        assert "finished" not in result.stdout, "the shell forked 400 times under a 50-task limit"
        members = cgroups.members(group_of(world, "bomb"))
        assert 0 < len(members) <= 50, len(members)
        usage = info(world, "bomb")["usage"]
        assert isinstance(usage, dict) and usage["tasks"] <= 50
        # the host and the other sessions can still start processes
        assert subprocess.run(["true"], check=False).returncode == 0
        other = world.run("exec", "bystander", "--", "sh", "-c", "sleep 0 & wait; echo ok", timeout=60)
        assert other.returncode == 0 and other.stdout == "ok\n"
        deleted = world.run("delete", "-f", "bomb", check=True)
        assert "ended" in deleted.stderr
        assert not group_of(world, "bomb").exists()
    finally:
        world.run("delete", "-f", "bomb")
        world.run("delete", "-f", "bystander")


def test_limit_changes_reach_running_processes(world: HerodevEnv) -> None:
    world.run("create", "live", check=True)
    snapshot = world.sessions_dir / world.user("live")
    script = (
        "import os, time\nwhile not os.path.exists('go'): time.sleep(0.05)\nx = b'x' * (200 << 20)\nprint('alive')\n"
    )
    try:
        (snapshot / "go").write_text("")  # control: without a limit the program lives
        assert world.run("exec", "live", "--", "python3", "-c", script, check=True).stdout == "alive\n"
        (snapshot / "go").unlink()
        waiting = background(world, "exec", "live", "--timeout", "60", "--", "python3", "-c", script)
        wait_for(lambda: len(cgroups.members(group_of(world, "live"))) >= 1)
        changed = world.run("limit", "live", "--memory", "48M", "--tasks", "20", check=True)
        assert "running processes included" in changed.stdout
        (snapshot / "go").write_text("")
        out, err = waiting.communicate(timeout=60)
        assert waiting.returncode == 137, (waiting.returncode, out, err)
        assert info(world, "live")["limits"] == {"memory": 48 << 20, "cpus": None, "tasks": 20}
        lifted = world.run("limit", "live", "--memory", "none", check=True)
        assert "memory none" in lifted.stdout
        assert world.run("exec", "live", "--", "python3", "-c", script, check=True).stdout == "alive\n"
        assert cgroups.read_limits(group_of(world, "live")).tasks == 20  # untouched by --memory
        assert world.run("limit", "nosuch", "--tasks", "5").returncode == 1
    finally:
        world.run("delete", "-f", "live")


def test_cpu_limits_share_a_loaded_machine(world: HerodevEnv) -> None:
    """Two sessions each run two busy loops for the same wall time; the one with --cpus 2 must
    get clearly more CPU time than the one with --cpus 0.25 (quota and weight). The numbers
    are printed; the assertion is only the ordering, with a wide margin."""
    world.run("create", "big", "--cpus", "2", check=True)
    world.run("create", "small", "--cpus", "0.25", check=True)
    spin = "end=$(($(date +%s)+5)); while [ $(date +%s) -lt $end ]; do :; done"
    both = f"({spin}) & ({spin}) & wait"
    try:
        results: dict[str, subprocess.CompletedProcess[str]] = {}

        def run(name: str) -> None:
            results[name] = world.run("exec", name, "--timeout", "60", "--", "sh", "-c", both, timeout=120)

        threads = [threading.Thread(target=run, args=(name,)) for name in ("big", "small")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(r.returncode == 0 for r in results.values()), results
        used = {}
        for name in ("big", "small"):
            usage = info(world, name)["usage"]
            assert isinstance(usage, dict)
            used[name] = float(usage["cpu_seconds"])
        print(f"cpu seconds in 5 s: big (--cpus 2) {used['big']:.2f}, small (--cpus 0.25) {used['small']:.2f}")
        assert used["small"] < 0.25 * 5 * 1.6 + 0.5, "the quota of 0.25 CPUs did not hold"
        assert used["big"] > 1.5 * used["small"], used
    finally:
        world.run("delete", "-f", "big")
        world.run("delete", "-f", "small")


def test_fleet_limit_caps_the_parent_group(world: HerodevEnv) -> None:
    try:
        changed = world.run("limit", "--fleet", "--tasks", "500", "--json", check=True)
        assert json.loads(changed.stdout)["limits"]["tasks"] == 500
        fleet = cgroups.fleet_group(cgroups.detect(), world.cgroup)
        assert cgroups.read_limits(fleet).tasks == 500
        assert world.run("limit", "--fleet", "somename", "--tasks", "5").returncode == 2
    finally:
        world.run("limit", "--fleet", "--tasks", "none", check=True)
    assert cgroups.read_limits(cgroups.fleet_group(cgroups.detect(), world.cgroup)).tasks is None


def test_processes_of_enter_are_in_the_session_group(world: HerodevEnv) -> None:
    world.run("create", "entered", "--tasks", "64", check=True)
    try:
        result = world.run("enter", "entered", "--", "cat", "/proc/self/cgroup", check=True)
        wanted = f"{world.cgroup}/{world.user('entered')}"
        lines = [line for line in result.stdout.splitlines() if ":pids:" in line or line.startswith("0::")]
        assert any(line.endswith(wanted) for line in lines), result.stdout
    finally:
        world.run("delete", "-f", "entered")


def test_cgroup_names_refuse_paths() -> None:
    hierarchy = cgroups.Hierarchy(1, v1_roots=(("pids", Path("/sys/fs/cgroup/pids")),))
    for bad in ("../x", "a/b", "", "A", "x" * 40):
        with pytest.raises(Exception, match="invalid cgroup name"):
            cgroups.session_group(hierarchy, "herodev", bad)
    for bad in ("../etc", "/abs", "a//b", "a/../b"):
        with pytest.raises(Exception, match="invalid cgroup parent"):
            cgroups.fleet_group(hierarchy, bad)


def test_v2_kill_and_remove_on_the_unified_hierarchy() -> None:
    """The v2 path of attach, members, cgroup.kill and remove, on this machine's cgroup2 mount
    (no controllers needed for those); where cgroup v2 is the main hierarchy every test above
    runs on it anyway."""
    unified = [
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines() if " - cgroup2 " in line
    ]
    if not unified:
        pytest.skip("no cgroup2 mount")
    hierarchy = cgroups.Hierarchy(2, v2_root=Path(unified[0]))
    parent = f"herodev-test-v2-{os.getpid()}"
    group = cgroups.session_group(hierarchy, parent, "dev_v2test")
    for _, directory in group.dirs():
        directory.mkdir(parents=True)
    try:
        spawner = subprocess.Popen(
            ["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 60 & done; wait"],
            preexec_fn=lambda: cgroups.join(group.procs_files()),
        )
        wait_for(lambda: len(cgroups.members(group)) >= 9)
        assert cgroups.kill_all(group) >= 9
        assert cgroups.members(group) == []
        spawner.wait(timeout=10)
        assert spawner.returncode == -9
    finally:
        cgroups.remove(group)
        cgroups.remove(cgroups.fleet_group(hierarchy, parent))
    assert not group.exists()


def test_repair_removes_the_cgroup_of_a_session_that_is_gone(world: HerodevEnv) -> None:
    """A delete cut short after the snapshot and metadata went but before the group did (or a
    crash of herodev itself) leaves a group, maybe with processes: repair ends and removes it."""
    ghost = group_of(world, "ghost")
    cgroups.ensure(cgroups.fleet_group(cgroups.detect(), world.cgroup))
    cgroups.ensure(ghost, cgroups.Limits(tasks=10))
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=lambda: cgroups.join(ghost.procs_files()))
    try:
        planned = world.run("-n", "repair", "--json", check=True)
        assert "cgroup of a deleted session" in planned.stdout
        assert ghost.exists() and sleeper.poll() is None  # -n changes nothing
        fixed = world.run("repair", "--json", check=True)
        assert "removed cgroup" in fixed.stdout, fixed.stdout
        assert sleeper.wait(timeout=10) == -9
        assert not ghost.exists()
        assert "cgroup of a deleted session" not in world.run("repair", "--json", check=True).stdout
    finally:
        sleeper.kill()
        sleeper.wait()
        cgroups.remove(ghost)


def test_a_command_killed_by_the_memory_limit_says_so(world: HerodevEnv) -> None:
    """The OOM killer ends CMD with SIGKILL and no word: exit 137 and an empty stderr were all
    the caller got. exec and enter (no terminal) now say on stderr that the session's memory
    limit was reached, exec --json has oom_killed; the status stays 137. A SIGKILL from
    elsewhere (no OOM kill counted) gets no such line."""
    world.run("create", "oomsay", "--memory", "64M", check=True)
    try:
        hog = world.run("exec", "oomsay", "--", "python3", "-c", HOG, timeout=120)
        assert hog.returncode == 137, (hog.returncode, hog.stdout, hog.stderr)
        assert "herodev: python3 -c" in hog.stderr
        assert "was killed: the session's memory limit (64M) was reached" in hog.stderr

        as_json = world.run("exec", "oomsay", "--json", "--", "python3", "-c", HOG, timeout=120)
        assert as_json.returncode == 137
        assert json.loads(as_json.stdout)["oom_killed"] is True

        entered = world.run("enter", "oomsay", "--", "python3", "-c", HOG, timeout=120)
        assert entered.returncode == 137, (entered.returncode, entered.stdout, entered.stderr)
        assert "the session's memory limit (64M) was reached" in entered.stderr

        # SIGKILL that is not the OOM killer's: no claim about memory
        killed = world.run("exec", "oomsay", "--json", "--", "sh", "-c", "kill -9 $$", timeout=60)
        assert killed.returncode == 137 and json.loads(killed.stdout)["oom_killed"] is False
        plain = world.run("exec", "oomsay", "--", "sh", "-c", "kill -9 $$", timeout=60)
        assert plain.returncode == 137 and "memory" not in plain.stderr
    finally:
        world.run("delete", "-f", "oomsay")
