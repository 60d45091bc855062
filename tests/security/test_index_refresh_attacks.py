"""A session cannot pass off a repository as unchanged through the refreshed-index shortcut.

`changes` reuses a repository's base row when its only change is `.git/index` rewritten with
the base's entries (system/gitindex.py). A session replaces the index of each victim with
something that is not a plain index of those entries: a FIFO (a read would hang), a link to
another repository's index, a copy of the base's entries with a broken checksum, another
repository's index. Each must be read as before (an error row or its real state), never the
base's clean row, and nothing may hang past the read deadline.
"""

from __future__ import annotations

import json
import pwd
import time
from collections.abc import Iterator

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import clone_into_code, git_world, in_session, make_remote

pytestmark = pytest.mark.system
REPOS = [f"example.com/org/v{i}" for i in range(5)]


@pytest.fixture
def iw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-indexattack-") as (world, owner):
        for index, relative in enumerate(REPOS):
            files = {"README": f"v{index}\n", **{f"src/m{j}.py": f"print({index}, {j})\n" for j in range(5)}}
            clone_into_code(world, owner, str(make_remote(world, f"v{index}", files)), relative)
        yield world, owner


def test_a_hostile_index_is_never_taken_for_a_refreshed_one(iw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = iw
    world.run("-f", "create", "idx", check=True)
    fifo, link, checksum, other, honest = REPOS
    # python3 in the session: flip the checksum's last byte of a copy of the base's index
    flip = (
        f"python3 -c \"import sys; p='{checksum}/.git/index'; d=bytearray(open(p,'rb').read()); "
        "d[-1]^=1; open(p+'.new','wb').write(d)\" && "
        f"mv {checksum}/.git/index.new {checksum}/.git/index"
    )
    in_session(
        world,
        "idx",
        " && ".join(
            [
                f"rm {fifo}/.git/index && mkfifo {fifo}/.git/index",
                f"rm {link}/.git/index && ln -s ../../{honest}/.git/index {link}/.git/index",
                flip,
                f"cp {honest}/.git/index {other}/.git/index",
                f"git -C {honest} status >/dev/null",  # the honest refresh: skipped, clean
            ]
        ),
    )
    started = time.monotonic()
    result = world.run("changes", "-s", "idx", "--json", HERODEV_READ_TIMEOUT="5")
    took = time.monotonic() - started
    rows = {row["path"]: row for row in json.loads(result.stdout)}
    attacks = {fifo: "a FIFO", link: "a link", checksum: "a broken checksum", other: "another repository's index"}
    fooled = [what for path, what in attacks.items() if path not in rows]
    print(f"attacks: {len(attacks)} tried, {len(fooled)} succeeded {fooled}")
    assert not fooled, rows
    for path in attacks:
        row = rows[path]
        assert row["error"] or row["staged"] or row["deleted"], row
    assert honest not in rows  # only refreshed: no change
    assert took < 60
    world.run("-f", "delete", "-f", "idx", check=True)
