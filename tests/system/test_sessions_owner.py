"""Who owns the code: root (the default when init runs without sudo), and the chown fallback."""

from __future__ import annotations

import json
import pwd

import pytest

from tests.conftest import HerodevEnv
from tests.system.test_sessions import owner_world

pytestmark = pytest.mark.system


def test_a_root_owned_code_root_is_writable_by_the_session(hd_world: HerodevEnv) -> None:
    (hd_world.code_root / "rootdir").mkdir()
    (hd_world.code_root / "rootdir" / "f").write_text("root\n")
    hd_world.run("create", "r", check=True)
    user = hd_world.user("r")
    result = hd_world.run(
        "enter",
        "r",
        "--",
        "sh",
        "-c",
        f"echo more >> {hd_world.code_root}/rootdir/f && stat -c %U rootdir/f",
        check=True,
    )
    assert result.stdout.strip() == user
    snapshot = hd_world.sessions_dir / user
    assert (snapshot / "rootdir/f").read_text() == "root\nmore\n"
    assert (snapshot / "rootdir/f").stat().st_uid == 0  # stored as root, the code owner
    assert (hd_world.code_root / "rootdir/f").read_text() == "root\n"
    # A setuid file made inside does not work: the session is mounted nosuid.
    made = hd_world.run(
        "enter", "r", "--", "sh", "-c", "cp /usr/bin/id ./myid && chmod u+s ./myid && ./myid -u", check=True
    )
    assert made.stdout.strip() == str(pwd.getpwnam(user).pw_uid)


def test_without_idmapped_mounts_the_snapshot_is_chowned_once() -> None:
    with owner_world() as world:
        _chown_fallback(world)


def _chown_fallback(world: HerodevEnv) -> None:
    owner = int(world.extra_env["TEST_OWNER_UID"])
    created = world.run("create", "f", HERODEV_NO_IDMAP="1", check=True)
    assert "chowned once" in created.stderr
    user = pwd.getpwnam(world.user("f"))
    snapshot = world.sessions_dir / user.pw_name
    assert (snapshot / "org/repo/file").stat().st_uid == user.pw_uid
    assert (snapshot / "rootfile").stat().st_uid == 0  # other owners keep their files
    assert (world.code_root / "org/repo/file").stat().st_uid == owner  # the original is untouched
    info = json.loads(world.run("info", "f", "--json", check=True).stdout)
    assert info["access"] == "chown"
    out = world.run("enter", "f", "--", "sh", "-c", f"id -un; echo x >> {world.code_root}/org/repo/file", check=True)
    assert out.stdout.strip() == user.pw_name
    assert (snapshot / "org/repo/file").read_text() == "original\nx\n"
    # The ownership change is not the session's work: only the edit counts.
    refused = world.run("delete", "f")
    assert refused.returncode == 1 and "1 changed path(s)" in refused.stderr and "org/repo/file" in refused.stderr
    world.run("delete", "-f", "f", check=True)
