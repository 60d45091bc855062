"""prune deletes only idle sessions without work and says why it keeps the others; pull
fast-forwards the code root's clean repositories and never touches local changes."""

from __future__ import annotations

import json
import pwd
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    clone_into_code,
    git,
    git_world,
    in_session,
    make_remote,
)

pytestmark = pytest.mark.system
APP, LIB, WIP = "example.com/org/app", "example.com/org/lib", "example.com/org/wip"


@pytest.fixture(scope="module")
def gworld() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-prune-") as (world, owner):
        for name, path in (("app", APP), ("lib", LIB), ("wip", WIP)):
            clone_into_code(world, owner, str(make_remote(world, name)), path)
        yield world, owner


def age(world: HerodevEnv, name: str, days: int) -> None:
    """Make a session look made (and last entered) `days` ago: metadata is root's to edit."""
    meta_path = world.sessions_dir / f"{world.user(name)}.json"
    meta = json.loads(meta_path.read_text())
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86400))
    meta["created"] = old
    meta.pop("last_entered", None)
    meta_path.write_text(json.dumps(meta))


def test_prune_deletes_only_idle_sessions_without_work(gworld) -> None:
    world, _ = gworld
    for name in ("idle", "busy", "fresh", "running"):
        world.run("-f", "create", name, check=True)
    in_session(world, "busy", f"echo work > {APP}/new.txt")
    for name in ("idle", "busy", "running"):
        age(world, name, 10)
    sleeper = subprocess.Popen(
        [sys.executable, "-m", "herodev_shell", "enter", "running", "--", "sleep", "60"], env=world.env()
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = {r["name"]: r for r in json.loads(world.run("list", "--json", check=True).stdout)}
            if rows["running"]["processes"]:
                break
            time.sleep(0.2)
        age(world, "running", 10)  # enter marked it used: age it again, the process alone must keep it
        # a fresh audit log: the one so far remembers the recent `enter`s, which prune also reads
        log = {"HERODEV_AUDIT_LOG": str(world.base / "prune-audit.jsonl")}
        dry = world.run("prune", "--dry-run", "--json", check=True, **log)
        planned = {o["name"]: o for o in json.loads(dry.stdout)}
        # the table's times read as every table's (UTC, no ISO 'T' or offset)
        table = world.run("prune", "--dry-run", check=True, **log).stdout.splitlines()
        assert table[0].split("\t")[2] == "last used" and len(table) == 5, table
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line.split("\t")[2]) for line in table[1:]), table
        assert planned["idle"]["action"] == "would delete"
        assert (world.sessions_dir / world.user("idle")).exists()
        done = {o["name"]: o for o in json.loads(world.run("prune", "--json", check=True, **log).stdout)}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert done["idle"]["action"] == "deleted"
    assert done["busy"]["action"] == "kept" and "holds work" in done["busy"]["reason"]
    assert done["fresh"]["action"] == "kept" and "used" in done["fresh"]["reason"]
    assert done["running"]["action"] == "kept" and "process" in done["running"]["reason"]
    names = [r["name"] for r in json.loads(world.run("list", "--json", check=True).stdout)]
    assert names == ["busy", "fresh", "running"]
    assert (world.sessions_dir / world.user("busy") / APP / "new.txt").read_text() == "work\n"
    assert world.run("prune", "--older-than", "soon").returncode == 2
    entries = json.loads(world.run("log", "--json", check=True, **log).stdout)
    assert entries[-1]["command"] == "prune" and entries[-1]["detail"]["deleted"] == ["idle"]
    for name in names:
        world.run("-f", "delete", name, check=True)


def test_pull_fast_forwards_clean_repositories_only(gworld) -> None:
    world, owner = gworld
    remotes = world.base / "remotes"
    for name in ("app", "lib", "wip"):  # a new commit on every remote
        seed = remotes / f"{name}.seed"
        (seed / "NEWS").write_text(f"news for {name}\n")
        git("add", "-A", cwd=seed)
        git("commit", "-q", "-m", "upstream news", cwd=seed)
        git("push", "-q", str(remotes / f"{name}.git"), "main", cwd=seed)
    # pull runs git as the code's owner: its remotes (local bare repositories here) are the owner's
    for name in ("app", "lib", "wip"):
        subprocess.run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", str(remotes / f"{name}.git")], check=True)
    (world.code_root / WIP / "README").write_text("local edit\n")  # local changes in wip
    subprocess.run(["chown", f"{owner.pw_uid}:{owner.pw_gid}", str(world.code_root / WIP / "README")], check=True)
    lib_head = git("rev-parse", "HEAD", cwd=world.code_root / LIB)

    only = {o["path"]: o for o in json.loads(world.run("pull", APP, "--json", check=True).stdout)}
    assert list(only) == [APP] and only[APP]["status"] == "updated"
    assert (world.code_root / APP / "NEWS").read_text() == "news for app\n"
    assert git("rev-parse", "HEAD", cwd=world.code_root / LIB) == lib_head  # not named: untouched

    outcomes = {o["path"]: o for o in json.loads(world.run("pull", "--json", check=True).stdout)}
    assert outcomes[APP]["status"] == "up to date"
    assert outcomes[LIB]["status"] == "updated"
    assert outcomes[WIP]["status"] == "skipped" and "local changes" in outcomes[WIP]["detail"]
    assert (world.code_root / WIP / "README").read_text() == "local edit\n"
    assert not (world.code_root / WIP / "NEWS").exists()
    # what pull wrote belongs to the code owner, not root
    stray = [p for p in (world.code_root / LIB).rglob("*") if p.lstat().st_uid != owner.pw_uid]
    assert not stray, stray[:3]
    # new sessions start from the pulled code
    world.run("-f", "create", "after", check=True)
    assert (world.sessions_dir / world.user("after") / LIB / "NEWS").read_text() == "news for lib\n"
    world.run("-f", "delete", "after", check=True)
    refused = world.run("pull", "-s", "after")
    assert refused.returncode == 1 and "code root only" in refused.stderr
    assert world.run("pull", "no/such/repo").returncode == 2
