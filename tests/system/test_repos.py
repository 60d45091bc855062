"""repos and reorganize on a real code root: discovery rules, moves by remote URL, no overwrite."""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from herodev_shell.core.repos import find_repository_paths
from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    clone_into_code,
    git,
    git_world,
    make_remote,
    session_dir,
)

pytestmark = pytest.mark.system


@pytest.fixture
def rw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-repos-") as (world, owner):
        yield world, owner


def set_remote(repo: Path, url: str) -> None:
    git("remote", "set-url", "origin", url, cwd=repo)


def test_discovery_finds_nested_repositories_but_not_submodules_links_or_sessions(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    git("init", "-q", str(root / "a" / "outer"))
    git("init", "-q", str(root / "a" / "outer" / "vendor" / "nested"))  # not a submodule: counts
    git("init", "-q", str(root / "b" / "withsub"))
    git("init", "-q", str(root / "b" / "withsub" / "libs" / "sub"))
    (root / "b" / "withsub" / ".gitmodules").write_text('[submodule "sub"]\n\tpath = libs/sub\n\turl = x\n')
    (root / "c").mkdir()
    (root / "c" / "link").symlink_to(root / "a")  # a link is not followed
    git("init", "-q", str(root / ".sessions" / "dev_x" / "copy"))
    (root / "d" / "worktree").mkdir(parents=True)
    (root / "d" / "worktree" / ".git").write_text("gitdir: ../../a/outer/.git\n")  # a gitfile counts
    assert find_repository_paths(root) == ["a/outer", "a/outer/vendor/nested", "b/withsub", "d/worktree"]


def test_repos_lists_path_remote_branch_in_the_code_root_and_a_session(
    rw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = rw
    remote = make_remote(world, "listed")
    repo = clone_into_code(world, owner, str(remote), "example.com/org/listed")
    git("checkout", "-q", "--detach", cwd=repo)
    clone_into_code(world, owner, str(make_remote(world, "other")), "example.com/org/other")
    rows = {r["path"]: r for r in json.loads(world.run("repos", "--json", check=True).stdout)}
    assert set(rows) == {"example.com/org/listed", "example.com/org/other"}
    assert (
        rows["example.com/org/other"]["branch"] == "main" and rows["example.com/org/other"]["upstream"] == "origin/main"
    )
    assert rows["example.com/org/other"]["remote"] == str(world.base / "remotes" / "other.git")
    assert rows["example.com/org/listed"]["branch"] is None  # detached
    for row in rows.values():
        assert {"path", "remote", "branch", "staged", "modified", "untracked", "ahead", "behind"} <= set(row)
    table = world.run("repos", check=True).stdout
    assert "(detached)" in table and "example.com/org/other" in table

    world.run("create", "viewer", check=True)
    git("init", "-q", str(session_dir(world, "viewer") / "mine" / "new"))
    in_session = {r["path"] for r in json.loads(world.run("repos", "-s", "viewer", "--json", check=True).stdout)}
    assert in_session == {"example.com/org/listed", "example.com/org/other", "mine/new"}
    world.run("delete", "-f", "viewer", check=True)


def test_reorganize_moves_by_remote_url_skips_conflicts_and_cleans_empty_dirs(
    rw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = rw
    code = world.code_root
    cases = {
        "old/one": "https://github.com/acme/one.git",
        "old/two": "git@gitlab.com:group/sub/two.git",
        "old/deep/three": "ssh://git@git.example.org:2222/team/three.git",
        "misc/four": "git://git.kernel.org/pub/four",
        "local/five": "file:///srv/git/five.git",
        "clash/six": "https://github.com/acme/taken.git",
        "github.com/acme/in-place": "https://github.com/acme/in-place",
    }
    remote = make_remote(world, "seed")
    for path, url in cases.items():
        set_remote(clone_into_code(world, owner, str(remote), path), url)
    git("init", "-q", str(code / "noremote" / "seven"))
    (code / "github.com" / "acme" / "taken").mkdir(parents=True)
    (code / "github.com" / "acme" / "taken" / "keep").write_text("mine\n")
    (code / "old" / "deep" / "notes.txt").write_text("stays\n")
    (code / "emptyalready").mkdir()

    before = sorted(str(p.relative_to(code)) for p in code.rglob("*") if ".sessions" not in p.parts)
    for flags in (["-n", "reorganize"], ["reorganize", "--dry-run"]):
        plan = world.run(*flags, "--json", check=True)
        planned = {m["path"]: m for m in json.loads(plan.stdout)}
        assert planned["old/one"]["target"] == "github.com/acme/one" and planned["old/one"]["status"] == "planned"
        after = sorted(str(p.relative_to(code)) for p in code.rglob("*") if ".sessions" not in p.parts)
        assert after == before  # the plan changed nothing
    shown = world.run("-n", "reorganize", check=True)
    text = shown.stdout
    assert "old/one" in text and "github.com/acme/one" in text and "dry run" in shown.stderr

    result = json.loads(world.run("reorganize", "--json", check=True).stdout)
    moves = {m["path"]: m for m in result}
    assert {p for p, m in moves.items() if m["status"] == "moved"} == {
        "old/one",
        "old/two",
        "old/deep/three",
        "misc/four",
    }
    assert (code / "github.com/acme/one/.git").is_dir()
    assert (code / "gitlab.com/group/sub/two/.git").is_dir()
    assert (code / "git.example.org/team/three/.git").is_dir()
    assert (code / "git.kernel.org/pub/four/.git").is_dir()
    assert moves["local/five"]["status"] == "skipped" and (code / "local/five/.git").is_dir()
    assert moves["clash/six"]["status"] == "skipped" and "exists" in moves["clash/six"]["reason"]
    assert (code / "clash/six/.git").is_dir() and (code / "github.com/acme/taken/keep").read_text() == "mine\n"
    assert moves["noremote/seven"]["status"] == "skipped" and (code / "noremote/seven/.git").is_dir()
    assert "github.com/acme/in-place" not in moves
    assert not (code / "misc").exists()  # left empty by the move: removed
    assert (code / "old/deep/notes.txt").read_text() == "stays\n"  # not empty: kept
    assert (code / "emptyalready").is_dir()  # empty, but not emptied by a move: kept
    assert (code / "gitlab.com/group").stat().st_uid == owner.pw_uid  # new parents are the owner's
    again = json.loads(world.run("reorganize", "--json", check=True).stdout)
    assert not [m for m in again if m["status"] == "moved"]


def test_reorganize_in_a_session_moves_only_there(rw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = rw
    repo = clone_into_code(world, owner, str(make_remote(world, "sess")), "misplaced")
    set_remote(repo, "https://github.com/acme/sess.git")
    world.run("create", "tidy", check=True)
    world.run("reorganize", "-s", "tidy", check=True)
    root = session_dir(world, "tidy")
    assert (root / "github.com/acme/sess/.git").is_dir() and not (root / "misplaced").exists()
    assert (world.code_root / "misplaced/.git").is_dir()
    assert not os.path.exists(world.code_root / "github.com/acme/sess")
    world.run("delete", "-f", "tidy", check=True)


def test_push_follows_a_repository_the_code_root_reorganized_meanwhile(
    rw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = rw
    bare = make_remote(world, "moved")
    url = "https://github.com/acme/moved.git"
    repo = clone_into_code(world, owner, str(bare), "misplaced/moved")
    set_remote(repo, url)
    git("config", f"url.{bare}.insteadOf", url, cwd=repo)  # the operator's own config reaches the bare repo
    git("fetch", "-q", "origin", cwd=repo)
    world.run("create", "mover", check=True)
    (session_dir(world, "mover") / "misplaced/moved/README").write_text("from the session\n")
    world.run("commit", "-s", "mover", "-m", "session work", check=True)
    moved = json.loads(world.run("reorganize", "--json", check=True).stdout)
    assert [(m["path"], m["status"]) for m in moved] == [("misplaced/moved", "moved")]
    result = json.loads(world.run("push", "-s", "mover", "--json", check=True).stdout)
    assert [(o["path"], o["status"]) for o in result] == [("misplaced/moved", "done")]
    assert "via github.com/acme/moved" in result[0]["detail"]
    assert git("log", "-1", "--format=%s", "main", cwd=bare) == "session work"
    world.run("delete", "mover", check=True)
