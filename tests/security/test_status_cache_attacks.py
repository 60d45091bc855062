"""The base-status cache cannot be reached or forged from inside a session.

A session plants a forged cache (every repository clean) where the real one would be if its
tree were the code root, and edits a file: changes must still report the edit, and the
session must not see the real cache at all.
"""

from __future__ import annotations

import json
import pwd
from collections.abc import Iterator

import pytest

from herodev_shell.core import status_cache
from tests.conftest import HerodevEnv
from tests.system.gitworld import changes_json, clone_into_code, git_world, in_session, make_remote

pytestmark = pytest.mark.system
REPO = "example.com/org/victim"


@pytest.fixture
def aw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd]]:
    with git_world("herodev-cacheattack-") as (world, owner):
        clone_into_code(world, owner, str(make_remote(world, "victim", {"README": "v\n"})), REPO)
        yield world, owner


def test_a_forged_status_cache_in_the_session_changes_nothing(aw: tuple[HerodevEnv, pwd.struct_passwd]) -> None:
    world, _ = aw
    world.run("-f", "create", "forger", check=True)
    changes_json(world, "forger")  # nothing yet
    in_session(world, "forger", f"echo edit >> {REPO}/README")
    assert changes_json(world, "forger")[REPO]["modified"] == 1  # the real cache now exists
    forged = {REPO: {"head": "0" * 40, "entries": {}, "staged": {}, "full_only": ""}}
    cache_dir = f"{world.code_root}/.sessions/{status_cache.DIR_NAME}"
    seen = in_session(world, "forger", f"ls -A {cache_dir} 2>&1; echo end")
    assert ".json" not in seen  # the real cache is not in the session's view
    for name in [p.name for p in (world.sessions_dir / status_cache.DIR_NAME).iterdir()]:
        in_session(
            world,
            "forger",
            f"mkdir -p {cache_dir} 2>/dev/null; echo '{json.dumps(forged)}' > {cache_dir}/{name} 2>/dev/null; true",
        )
    assert changes_json(world, "forger")[REPO]["modified"] == 1
    assert changes_json(world, "forger", "--full")[REPO]["modified"] == 1
    world.run("-f", "delete", "-f", "forger", check=True)
