"""Sessions are untrusted: nothing a session's repository configures may run as root.

The session's repository gets hooks, an fsmonitor command, an external diff, a textconv, a
clean/smudge filter, a credential helper, an insteadOf rewrite and a rewritten remote URL, each
of which would leave a marker file if run. changes, diff, commit and push must run none of them
and push only to the remote the code root's repository names.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import (
    clone_into_code,
    git,
    git_world,
    make_remote,
    session_dir,
)

pytestmark = pytest.mark.system

HOOKS = ["pre-commit", "commit-msg", "post-commit", "pre-push", "post-checkout", "reference-transaction"]


@pytest.fixture
def sw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-security-") as (world, owner):
        yield world, owner


def _script(path: Path, marker: Path) -> Path:
    path.write_text(f"#!/bin/sh\ntouch '{marker}'\ncat\n")
    path.chmod(0o755)
    return path


def arm(repo: Path, markers: Path, evil_remote: Path, trusted_url: str) -> None:
    """Everything a hostile session could plant in its repository's config and hooks."""
    scripts = repo.parent / "scripts"
    scripts.mkdir(exist_ok=True)
    hooks = repo / ".git" / "hooks"
    for hook in HOOKS:
        _script(hooks / hook, markers / f"hook-{hook}")

    def config(key: str, value: str) -> None:
        git("config", "--file", str(repo / ".git" / "config"), key, value)

    config("core.fsmonitor", str(_script(scripts / "fsmonitor", markers / "fsmonitor")))
    config("diff.external", str(_script(scripts / "extdiff", markers / "external-diff")))
    config("diff.evil.command", str(_script(scripts / "diffcmd", markers / "diff-driver")))
    config("diff.evil.textconv", str(_script(scripts / "textconv", markers / "textconv")))
    config("filter.evil.clean", str(_script(scripts / "clean", markers / "filter-clean")))
    config("filter.evil.smudge", str(_script(scripts / "smudge", markers / "filter-smudge")))
    config("filter.evil.process", str(_script(scripts / "process", markers / "filter-process")))
    config("credential.helper", f"!{_script(scripts / 'cred', markers / 'credential')}")
    config("core.sshCommand", str(_script(scripts / "ssh", markers / "ssh")))
    config("uploadpack.packObjectsHook", str(_script(scripts / "pack", markers / "pack-objects-hook")))
    config("core.alternateRefsCommand", str(_script(scripts / "altrefs", markers / "alternate-refs")))
    config(f"url.{evil_remote}.insteadOf", trusted_url)
    config("remote.origin.url", str(evil_remote))
    config("branch.main.merge", "refs/heads/hijacked")  # aim main at another branch of the remote
    (repo / ".gitattributes").write_text("* diff=evil filter=evil\n")


def test_session_repository_code_never_runs_and_push_goes_to_the_code_roots_remote(
    sw: tuple[HerodevEnv, pwd.struct_passwd],
) -> None:
    world, owner = sw
    trusted = make_remote(world, "trusted")
    evil = make_remote(world, "evil")
    clone_into_code(world, owner, str(trusted), "example.com/org/app")
    markers = world.base / "markers"
    markers.mkdir()
    markers.chmod(0o777)
    world.run("create", "mallory", check=True)
    repo = session_dir(world, "mallory") / "example.com/org/app"
    arm(repo, markers, evil, str(trusted))
    (repo / "README").write_text("changed by mallory\n\x1b]0;owned\x07\x1b[2J\n")
    (repo / "new.txt").write_text("new\n")
    for path in [repo.parent / "scripts", *(repo.parent / "scripts").iterdir(), *repo.rglob("*")]:
        os.lchown(path, owner.pw_uid, owner.pw_gid)

    found = json.loads(world.run("changes", "-s", "mallory", "--json", check=True).stdout)
    row = next(r for r in found if r["path"] == "example.com/org/app")
    assert row["modified"] == 1 and row["untracked"] == 2  # new.txt and .gitattributes
    assert any(str(evil) in entry for entry in row["remote_changed"])  # reported ...
    diff = world.run("diff", "-s", "mallory", check=True).stdout
    assert "+changed by mallory" in diff
    assert "\x1b" not in diff and "\\e]0;owned" in diff  # escape sequences shown (sanitize.py), not sent
    world.run("commit", "-s", "mallory", "-m", "mallory's work", check=True)
    pushed = world.run("push", "-s", "mallory", "--json", check=True)
    outcome = next(o for o in json.loads(pushed.stdout) if o["action"] == "push")
    assert outcome["status"] == "done" and outcome["remote"] == "origin"
    assert "ignored the session's remote URL" in outcome["detail"]  # ... not obeyed

    assert sorted(p.name for p in markers.iterdir()) == []  # nothing of the session's ran
    assert git("log", "-1", "--format=%s", "main", cwd=trusted) == "mallory's work"
    assert git("log", "-1", "--format=%s", "main", cwd=evil) == "initial"
    assert "hijacked" not in git("branch", "--list", cwd=trusted)
    code_repo = world.code_root / "example.com/org/app"
    assert git("config", "remote.origin.url", cwd=code_repo) == str(trusted)
    assert not git("for-each-ref", "refs/herodev", cwd=code_repo)  # the staging ref is gone
    # what root fetched into the code root's repository still belongs to the code owner
    assert all(p.lstat().st_uid == owner.pw_uid for p in (code_repo / ".git").rglob("*"))
    # control: the traps are live; plain git as root in that repository springs them
    git("diff", "HEAD~1", cwd=repo)
    git("status", cwd=repo)
    sprung = {p.name for p in markers.iterdir()}
    assert {"diff-driver", "fsmonitor"} <= sprung
    world.run("delete", "-f", "mallory", check=True)


def test_links_never_lead_reads_or_writes_out_of_the_session(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, owner = sw
    for name in ("linked", "gitfile", "borrow"):
        clone_into_code(world, owner, str(make_remote(world, name)), f"example.com/org/{name}")
    world.run("create", "links", check=True)
    root = session_dir(world, "links")
    victim = world.base / "victim"
    victim.write_text("precious\n")
    repo = root / "example.com/org/linked"
    (repo / "README").write_text("edit\n")
    # aim the reflog libgit2 appends to at a file outside the session
    (repo / ".git" / "logs" / "HEAD").unlink()
    (repo / ".git" / "logs" / "HEAD").symlink_to(victim)
    # a gitfile pointing at the trusted code root's repository
    other = root / "example.com/org/gitfile"
    (other / ".git").rename(other / "moved-git")
    (other / ".git").write_text(f"gitdir: {world.code_root / 'example.com/org/linked/.git'}\n")
    (other / "README").write_text("edit\n")
    # objects borrowed from the code root's repository
    borrower = root / "example.com/org/borrow"
    trusted_objects = world.code_root / "example.com/org/linked/.git/objects"
    (borrower / ".git/objects/info/alternates").write_text(f"{trusted_objects}\n")
    (borrower / "README").write_text("edit\n")
    # a repository path through a symlink out of the session
    (root / "escape").symlink_to(world.code_root / "example.com")

    result = world.run("commit", "-s", "links", "-m", "x", "--json")
    assert result.returncode == 1
    rows = {o["path"]: o for o in json.loads(result.stdout)}
    assert rows["example.com/org/linked"]["status"] == "failed"
    assert "symbolic link" in rows["example.com/org/linked"]["detail"]
    assert victim.read_text() == "precious\n"
    found = {r["path"]: r for r in json.loads(world.run("changes", "-s", "links", "--json", check=True).stdout)}
    assert "outside" in found["example.com/org/gitfile"]["error"]
    # named in the session's terms, not through herodev's frozen scan snapshot (.sessions/USER.scan)
    assert "example.com/org/gitfile/.git points outside the tree" in found["example.com/org/gitfile"]["error"]
    assert not any(".scan" in r["error"] for r in found.values())
    assert "borrows objects from outside" in found["example.com/org/borrow"]["error"]
    assert not any(p.startswith("escape") for p in found)
    named = world.run("diff", "-s", "links", "escape/org/linked")
    assert named.returncode == 1 and "no repository" in named.stderr
    assert git("log", "-1", "--format=%s", cwd=world.code_root / "example.com/org/linked") == "initial"
    world.run("delete", "-f", "links", check=True)


def test_pygit2_owner_validation_stays_on_for_everything_else(sw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    """Opening a session repository switches libgit2's owner check off for that call only."""
    world, owner = sw
    clone_into_code(world, owner, str(make_remote(world, "owned")), "example.com/org/owned")
    import pygit2

    from herodev_shell.system import gitlib

    repo_path = world.code_root / "example.com/org/owned"
    gitlib.open_repo(repo_path, world.code_root)
    assert pygit2.option(pygit2.enums.Option.GET_OWNER_VALIDATION) == 1
    with pytest.raises(pygit2.GitError):
        pygit2.Repository(str(repo_path))  # owned by the code owner, not by us (root)


def _nobody_tree() -> tuple[Path, Path]:

    from tests.conftest import make_traversable_dir

    base = make_traversable_dir("herodev-sandbox-")
    tree, outside = base / "tree", base / "outside"
    tree.mkdir()
    outside.mkdir(mode=0o777)
    outside.chmod(0o777)
    os.chown(tree, 65534, 65534)
    return base, tree


def _nobody_spec(tree: Path, writable: bool, timeout: float = 20.0) -> object:
    from herodev_shell.system import sandbox

    identity = sandbox.Identity("nobody", 65534, 65534)
    return sandbox.Spec(identity, (tree,), None, writable, sandbox.Limits(timeout=timeout))


def test_writes_into_a_session_follow_no_symbolic_link() -> None:
    """The sandbox sees the session nosymfollow: a link is never followed, even one that appears
    after every check (the kernel refuses it, whoever placed it and whenever)."""
    import shutil

    from herodev_shell.errors import HerodevError
    from herodev_shell.system import sandbox

    base, tree = _nobody_tree()
    outside = base / "outside"
    try:
        (tree / "link").symlink_to(outside)

        def write_through_link() -> str:
            (tree / "link" / "planted").write_text("x")
            return "written"

        with pytest.raises(HerodevError, match="Too many levels of symbolic links"):
            sandbox.run(_nobody_spec(tree, True), write_through_link)  # type: ignore[arg-type]
        assert not (outside / "planted").exists()
        assert sandbox.run(_nobody_spec(tree, True), lambda: (tree / "plain").write_text("ok")) == 2  # type: ignore[arg-type]
        assert (tree / "plain").read_text() == "ok"  # plain writes still land (in the real tree)
        assert (tree / "plain").stat().st_uid == 65534  # ... as the sandbox's user, not root
        with pytest.raises(HerodevError, match="Read-only file system"):
            sandbox.run(_nobody_spec(tree, False), lambda: (tree / "ro").write_text("no"))  # type: ignore[arg-type]
        assert write_through_link() == "written"  # control: outside the sandbox the link is followed
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_read_that_blocks_is_stopped_killed_and_reaped() -> None:
    """A FIFO where git expects a file would block a read forever: the child is killed and
    reaped at the deadline, and the next item still gets its answer."""
    import shutil
    import time

    from herodev_shell.system import sandbox

    base, tree = _nobody_tree()
    try:
        os.mkfifo(tree / "HEAD")
        (tree / "ok").write_text("fine")
        started = time.monotonic()
        answers = list(
            sandbox.run_each(
                _nobody_spec(tree, False, timeout=1),  # type: ignore[arg-type]
                lambda name: (tree / name).read_text(),
                ["HEAD", "ok"],
            )
        )
        assert time.monotonic() - started < 10
        assert isinstance(answers[0], sandbox.Failure) and "stopped after 1s" in answers[0].message
        assert answers[1] == "fine"
        children = [p for p in os.listdir("/proc") if p.isdigit() and _parent_of(p) == os.getpid()]
        assert children == []  # killed and reaped: no zombie, no survivor
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _parent_of(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
