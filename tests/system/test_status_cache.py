"""changes from the base's status plus the changed paths: the cache of base statuses, a session
that only refreshed its indexes, and agreement with --full (the exhaustive walk)."""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator

import pytest

from herodev_shell.core import status_cache
from tests.conftest import HerodevEnv
from tests.system.gitworld import changes_json, clone_into_code, git_world, in_session, make_remote

pytestmark = pytest.mark.system

REPOS = [f"example.com/org/r{i}" for i in range(4)]


@pytest.fixture(scope="module")
def cw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-statuscache-") as (world, owner):
        for index, relative in enumerate(REPOS):
            files = {"README": "hello\n", **{f"src/m{j}.py": f"print({j})\n" for j in range(20)}}
            if index == 0:
                files[".gitignore"] = "*.log\n"
            clone_into_code(world, owner, str(make_remote(world, f"r{index}", files)), relative)
        # the code root's own uncommitted state, which the base status must carry
        (world.code_root / REPOS[1] / "scratch.txt").write_text("untracked in the code root\n")
        yield world, owner


def cache_files(world: HerodevEnv) -> list[str]:
    where = world.sessions_dir / status_cache.DIR_NAME
    return sorted(p.name for p in where.iterdir()) if where.is_dir() else []


def test_base_statuses_are_cached_per_base_and_swept_with_the_session(cw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = cw
    world.run("-f", "create", "cache", check=True)
    in_session(world, "cache", f"echo more >> {REPOS[0]}/README && echo x > {REPOS[1]}/new.txt")
    found = changes_json(world, "cache")
    assert set(found) == {REPOS[0], REPOS[1]}
    assert found[REPOS[0]]["modified"] == 1
    assert found[REPOS[1]]["untracked"] == 2  # its new file and the code root's scratch.txt
    (name,) = cache_files(world)
    cached = json.loads((world.sessions_dir / status_cache.DIR_NAME / name).read_text())
    assert set(cached) == {REPOS[0], REPOS[1]}
    assert list(cached[REPOS[1]]["entries"]) == ["scratch.txt"]
    assert changes_json(world, "cache") == found  # from the cache now: the same answer
    assert changes_json(world, "cache", "--full") == found
    world.run("-f", "create", "other", check=True)
    in_session(world, "other", f"echo y > {REPOS[2]}/y.txt")
    world.run("-f", "delete", "-f", "cache", check=True)
    assert set(changes_json(world, "other")) == {REPOS[2]}
    assert len(cache_files(world)) == 1  # the deleted session's file went when the next was written
    world.run("-f", "delete", "-f", "other", check=True)


def test_refreshed_indexes_are_no_change_and_full_agrees(cw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = cw
    world.run("-f", "create", "refresh", check=True)
    # git status in every repository rewrites .git/index (stat data only): nothing to report
    script = " && ".join(f"git -C {r} status --porcelain >/dev/null && touch {r}/.git/index" for r in REPOS)
    in_session(world, "refresh", script)
    in_session(world, "refresh", f"echo a.log > {REPOS[0]}/debug.log")  # ignored
    found = changes_json(world, "refresh")
    # only the code root's own untracked file (REPOS[1], touched by the refresh): no change of the session's
    assert {r: (v["untracked"], v["modified"], v["staged"]) for r, v in found.items()} == {REPOS[1]: (1, 0, 0)}
    assert changes_json(world, "refresh", "--full") == found
    steps = [
        f"cd {REPOS[0]} && git rm -q --cached src/m1.py",
        f"cd {REPOS[2]} && rm -r src && mkdir README.d && echo z > README.d/z",
        f"cd {REPOS[3]} && mv src lib && git add -A && git commit -qm moved && echo w >> README",
        f"cd {REPOS[1]} && chmod +x src/m2.py && git add src/m2.py",
    ]
    for step in steps:
        in_session(world, "refresh", step)
        assert changes_json(world, "refresh") == changes_json(world, "refresh", "--full"), step
    world.run("-f", "delete", "-f", "refresh", check=True)
