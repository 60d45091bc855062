"""Class 9: a session name that is not one is a usage error everywhere, never a path.

`-s 'x/../..'` once scanned the base code root as if it were a session; a name with a
newline or a slash must not reach any path either. Every command that takes a session,
as -s NAME or as NAME, must refuse it with exit 2 and change nothing.
"""

from __future__ import annotations

import pytest

from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

EVIL = ["x/../..", "..", "x\nroot", "../../etc"]
COMMANDS = [
    ["repos", "-s", "{}"],
    ["changes", "-s", "{}"],
    ["diff", "-s", "{}"],
    ["commit", "-s", "{}", "-m", "msg"],
    ["push", "-s", "{}"],
    ["reorganize", "-s", "{}"],
    ["info", "{}"],
    ["enter", "{}", "--", "true"],
    ["exec", "{}", "--", "true"],
    ["delete", "-f", "{}"],
    ["checkpoint", "{}"],
    ["checkpoints", "{}"],
    ["rewind", "{}", "1"],
    ["fork", "{}", "forked"],
    ["limit", "{}", "--tasks", "50"],
    ["setup", "{}"],
    ["use", "{}"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_name_that_is_not_a_session_name_is_a_usage_error(hd_module_world: HerodevEnv, command: list[str]) -> None:
    world = hd_module_world
    before = sorted(p.name for p in world.sessions_dir.iterdir())
    for name in EVIL:
        argv = [part.replace("{}", name) for part in command]
        result = world.run(*argv, timeout=60)
        assert result.returncode == 2, f"herodev {argv!r} exited {result.returncode}: {result.stderr}"
        assert "session name" in result.stderr, result.stderr
    assert sorted(p.name for p in world.sessions_dir.iterdir()) == before
