"""A full filesystem during `create` and during `commit`: a clear error, nothing half made,
nothing lost; once space is back the same commands work."""

from __future__ import annotations

import errno
import json
import os
import pwd
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv, make_traversable_dir, new_prefix
from tests.system.gitworld import (
    clone_into_code,
    git,
    in_session,
    make_remote,
    remove_world,
    session_dir,
)

pytestmark = pytest.mark.system
APP = "example.com/org/app"


@pytest.fixture
def small_world() -> Iterator[HerodevEnv]:
    base = make_traversable_dir("herodev-full-")
    world = HerodevEnv(base, new_prefix(), extra_env={"HERODEV_IMAGE_SIZE": "256M"})
    try:
        world.config.write_text("")
        (base / "home").mkdir()
        (base / "remotes").mkdir()
        subprocess.run(["useradd", "--no-create-home", "--user-group", world.user("owner")], check=True)
        owner = pwd.getpwnam(world.user("owner"))
        world.run("-f", "init", "--no-packages", check=True, SUDO_UID=str(owner.pw_uid), SUDO_GID=str(owner.pw_gid))
        remote = make_remote(world, "app", {"README": "app\n"})
        clone_into_code(world, owner, str(remote), APP)
        yield world
    finally:
        remove_world(world)


def fill(world: HerodevEnv) -> None:
    """Fill the code root's filesystem: data with one big file, then metadata with small ones."""
    subprocess.run(["dd", "if=/dev/zero", f"of={world.code_root}/filler", "bs=1M"], capture_output=True, check=False)
    for index in range(100000):
        try:
            (world.code_root / f"filler-{index}").write_text("x" * 2000)
        except OSError:
            break
    subprocess.run(["sync"], check=False)


def free(world: HerodevEnv) -> None:
    for entry in world.code_root.iterdir():
        if entry.name.startswith("filler"):
            entry.unlink()
    # A snapshot deleted meanwhile (the undone create's base) frees its space only once
    # btrfs's cleaner has dropped it.
    subprocess.run(["btrfs", "subvolume", "sync", str(world.code_root)], check=False, capture_output=True)
    subprocess.run(["sync"], check=False)


def assert_full(world: HerodevEnv) -> None:
    """The case is about a full disk: prove it is full before counting anything as a fault."""
    probe = world.code_root / "probe-after-fill"
    try:
        with probe.open("wb") as handle:
            handle.write(b"x" * (1 << 20))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    else:
        pytest.fail("the filesystem did not fill: this case would test nothing")
    finally:
        probe.unlink(missing_ok=True)


def assert_clear_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    assert "space" in result.stderr.lower(), result.stderr


def no_leftovers(world: HerodevEnv) -> None:
    rows = json.loads(world.run("check", "--json").stdout)
    bad = [r for r in rows if r["name"] in ("leftovers", "sessions") and r["status"] != "pass"]
    assert not bad, bad


def test_full_disk_during_create_and_commit(small_world: HerodevEnv, tally) -> None:
    world = small_world
    world.run("-f", "create", "early", check=True)
    in_session(world, "early", f"echo changed > {APP}/README && echo new > {APP}/added.txt")
    repo = session_dir(world, "early") / APP
    head = git("rev-parse", "HEAD", cwd=repo)
    before = sorted(os.listdir(world.sessions_dir))

    fill(world)
    assert_full(world)
    hit = 0  # operations the full disk made fail (faults counted only once they happened)
    created = world.run("-f", "create", "late")
    if created.returncode == 0:  # btrfs's reserve let it through: then it must be whole
        assert json.loads(world.run("info", "late", "--json", check=True).stdout)["problems"] == []
    else:
        hit += 1
        assert_clear_failure(created)
        assert sorted(os.listdir(world.sessions_dir)) == before
        with pytest.raises(KeyError):
            pwd.getpwnam(world.user("late"))
    no_leftovers(world)

    committed = world.run("commit", "-s", "early", "-m", "on a full disk")
    assert committed.returncode != 0 or git("rev-parse", "HEAD", cwd=repo) != head
    if committed.returncode != 0:
        hit += 1
        assert committed.stderr.startswith("error: ") or "failed" in committed.stdout, committed
        assert "Traceback" not in committed.stderr and "internal error" not in committed.stderr, committed.stderr
        assert git("rev-parse", "HEAD", cwd=repo) == head  # no half commit
    assert not (repo / ".git" / "index.lock").exists()
    tally.check_kept({repo / "README": "changed\n", repo / "added.txt": "new\n"})
    assert hit >= 1, "neither create nor commit met the full disk: nothing was tested"
    tally.fault(hit)

    free(world)
    world.run("repair", check=True)
    no_leftovers(world)
    world.run("commit", "-s", "early", "-m", "after space came back", check=True)
    assert git("show", "HEAD:added.txt", cwd=repo) == "new"
    in_session(world, "early", f"cd {APP} && git status --short")  # the user's git still works
    world.run("-f", "create", "late2", check=True)
