"""Class 3: deleting a session deletes its own subvolumes, found and deleted by id.

The attacker (session "evil") makes nested subvolumes whose names would, read by path, point
at another session's snapshot: a name with a newline that forges a line of `btrfs subvolume
list` naming "evil/../victim", and a directory swapped for a symlink to the sessions dir
between the listing and the deletion. `delete -f evil` must delete every subvolume of evil's
and leave the victim's snapshot, with its work, untouched.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from herodev_shell.system import btrfs, subvolids
from herodev_shell.system.runner import Runner
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system


def _in_session(world: HerodevEnv, name: str, script: str) -> None:
    world.run("enter", name, "--", "sh", "-c", script, check=True, timeout=60)


def _fs_path(world: HerodevEnv, user: str) -> str:
    """The snapshot's path from the filesystem's top level, as `btrfs subvolume list -a` prints it."""
    out = subprocess.run(
        ["btrfs", "subvolume", "list", "-a", str(world.code_root)], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        path = line.partition(" path ")[2].removeprefix("<FS_TREE>/")
        if path.endswith("/" + user):
            return path
    raise AssertionError(f"{user} is not in the subvolume listing:\n{out}")


def _subvolume_ids(world: HerodevEnv) -> set[int]:
    out = subprocess.run(
        ["btrfs", "subvolume", "list", str(world.code_root)], capture_output=True, text=True, check=True
    ).stdout
    return {int(line.split()[1]) for line in out.splitlines() if line.startswith("ID ")}


@pytest.fixture
def two(hd_world: HerodevEnv) -> Iterator[HerodevEnv]:
    world = hd_world
    for name in ("evil", "victim"):
        world.run("-f", "create", name, check=True)
    _in_session(world, "victim", f"echo precious > {world.code_root}/precious.txt")
    yield world


def _victim_intact(world: HerodevEnv) -> None:
    snapshot = world.sessions_dir / world.user("victim")
    assert btrfs.is_subvolume(snapshot), "the victim's snapshot was deleted"
    assert (snapshot / "precious.txt").read_text() == "precious\n", "the victim's work is gone"
    assert world.run("info", "victim").returncode == 0


def test_a_newline_in_a_subvolume_name_cannot_forge_a_listing_line(two: HerodevEnv) -> None:
    """The nested subvolume really is evil/x<newline>ID 5 ... path <evil>/lnk/<victim>; the
    listing's second line names <evil>/lnk/<victim>, and evil's lnk is a symlink to the sessions
    dir: read by path, that line is the victim's snapshot."""
    world = two
    evil, victim = world.user("evil"), world.user("victim")
    forged = f"x\nID 5 gen 1 top level 5 path {_fs_path(world, evil)}/lnk"
    _in_session(
        world,
        "evil",
        f"cd {world.code_root} && mkdir -p '{forged}' && btrfs subvolume create '{forged}/{victim}' >/dev/null"
        f" && ln -s {world.sessions_dir} lnk",
    )
    listing = subprocess.run(["btrfs", "subvolume", "list", "-a", str(world.code_root)], capture_output=True, text=True)
    assert f"\nID 5 gen 1 top level 5 path {_fs_path(world, evil)}/lnk/{victim}\n" in listing.stdout, (
        "the forged line is not in the listing: the attack is not armed"
    )
    before = _subvolume_ids(world) - {5}  # 5: the forged line's (the top level is never listed)
    world.run("-f", "delete", "evil", check=True)
    _victim_intact(world)
    assert not (world.sessions_dir / evil).exists()
    # evil's snapshot, base, private /tmp and nested subvolume: nothing else
    assert len(before - _subvolume_ids(world)) == 4


def test_a_directory_swapped_for_a_symlink_mid_delete_deletes_nothing_else(
    two: HerodevEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap happens exactly between finding the nested subvolumes and deleting them, as a
    racing process of the session would do it: d/<victim user> is evil's own subvolume when
    found, and d becomes a symlink to the sessions dir just after (so the path names the victim)."""
    world = two
    evil, victim = world.user("evil"), world.user("victim")
    _in_session(world, "evil", f"mkdir {world.code_root}/d && btrfs subvolume create {world.code_root}/d/{victim}")
    snapshot = world.sessions_dir / evil
    found_before = subvolids.descendants

    def swap_after_finding(fd: int, top: int) -> list[int]:
        found = found_before(fd, top)
        os.rename(snapshot / "d", snapshot / "d.real")
        os.symlink(world.sessions_dir, snapshot / "d")
        assert (snapshot / "d" / victim / "precious.txt").exists()  # the path now names the victim
        return found

    monkeypatch.setattr(subvolids, "descendants", swap_after_finding)
    nested = btrfs.delete_subvolume_tree(snapshot, Runner())
    assert len(nested) == 1
    assert not snapshot.exists()
    _victim_intact(world)
