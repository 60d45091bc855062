"""Attacks on checkpoints, rewind, fork and the MCP file tools from inside a session.

A session must never reach its checkpoints (they are its way back: a session that could edit
them could forge its own history), never make read_file/write_file act outside what its own
user may do, and never smuggle control characters into what operators see.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import clone_into_code, git_world, in_session, make_remote, session_dir

pytestmark = pytest.mark.system

REPO = "example.com/org/target"


@pytest.fixture(scope="module")
def aw() -> Iterator[HerodevEnv]:
    with git_world("herodev-cp-attacks-") as (world, owner):
        clone_into_code(world, owner, str(make_remote(world, "target", {"README": "clean\n"})), REPO)
        world.run("create", "evil", check=True)
        try:
            yield world
        finally:
            world.run("delete", "-f", "evil")


def checkpoint_dir(world: HerodevEnv, ident: str) -> Path:
    return world.sessions_dir / f"{world.user('evil')}.checkpoints" / ident


def test_a_session_cannot_see_or_change_its_checkpoints(aw: HerodevEnv) -> None:
    world = aw
    world.run("checkpoint", "evil", "-m", "pristine", check=True)
    target = checkpoint_dir(world, "1")
    assert (target / REPO / "README").read_text() == "clean\n"
    # From inside: the sessions dir is hidden, the checkpoint path leads nowhere, writes fail.
    probe = (
        f"ls -A {world.sessions_dir} 2>/dev/null | wc -l; "
        f"test -e {target} && echo SEEN || echo hidden; "
        f"echo forged > {target}/{REPO}/README 2>/dev/null && echo WROTE || echo refused; "
        f"grep -c checkpoints /proc/self/mountinfo || true"
    )
    out = in_session(world, "evil", probe).split()
    assert out == ["0", "hidden", "refused", "0"], out
    # A link planted in the session toward the checkpoint is followed as the session user, in
    # its namespace: still nothing there.
    in_session(world, "evil", f"ln -s {target} {REPO}/cp-link")
    result = world.run("exec", "evil", "--", "sh", "-c", f"cat {REPO}/cp-link/{REPO}/README")
    assert result.returncode != 0 and "clean" not in result.stdout
    assert (target / REPO / "README").read_text() == "clean\n"
    # rewind brings back the checkpoint's content, whatever the session did meanwhile
    in_session(world, "evil", f"echo owned > {REPO}/README")
    world.run("rewind", "evil", "1", check=True)
    assert (session_dir(world, "evil") / REPO / "README").read_text() == "clean\n"


@pytest.mark.parametrize(
    "label",
    ["\x1b[31mred\x1b[0m", "two\nlines", "bell\x07", "nul\x00byte", "bidi\u202etxt.exe", "cr\rover"],
    ids=["escape", "newline", "bell", "nul", "bidi", "carriage-return"],
)
def test_a_checkpoint_label_with_control_characters_is_refused(aw: HerodevEnv, label: str) -> None:
    world = aw
    before = sorted(os.listdir(checkpoint_dir(world, "").parent)) if checkpoint_dir(world, "").parent.exists() else []
    if "\x00" in label:
        # argv cannot carry a NUL: the core is asked directly, as the MCP face would.
        from herodev_shell.core.checkpoints import label_problem

        assert label_problem(label)
        return
    result = world.run("checkpoint", "evil", "-m", label)
    assert result.returncode == 2 and "control characters" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    after = sorted(os.listdir(checkpoint_dir(world, "").parent)) if checkpoint_dir(world, "").parent.exists() else []
    assert after == before


@pytest.mark.parametrize("ident", ["../evil", "1/../../x", "-1", "1\n", "1;id", "0x1", "\x1b[2J"])
def test_checkpoint_ids_never_name_a_path(aw: HerodevEnv, ident: str) -> None:
    world = aw
    for argv in (
        ["rewind", "evil", ident],
        ["checkpoint", "--delete", "evil", ident],
        ["changes", "-s", "evil", "--from", ident],
        ["fork", "evil", "evilfork", "--from", ident],
    ):
        result = world.run(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert "\x1b" not in result.stderr
    assert not (world.sessions_dir / world.user("evilfork")).exists()


@pytest.mark.parametrize("name", ["bad\x1bname", "a\nb", "../x"])
def test_fork_names_with_control_characters_or_slashes_are_refused(aw: HerodevEnv, name: str) -> None:
    result = aw.run("fork", "evil", name)
    assert result.returncode == 2 and "\x1b" not in result.stderr
    assert not any("\n" in p or "\x1b" in p for p in os.listdir(aw.sessions_dir))


def _mcp_calls(world: HerodevEnv, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    import anyio
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def go() -> list[Any]:
        params = StdioServerParameters(command=sys.executable, args=["-m", "herodev_shell", "mcp"], env=world.env())
        async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
            await client.initialize()
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_links_in_the_session_do_not_make_mcp_file_tools_escape(aw: HerodevEnv, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    world = aw
    # Root's files outside the session: one only root may read, one only root may write.
    secret = world.base / "root-secret"
    secret.write_text("root only\n")
    secret.chmod(0o600)
    victim = world.base / "root-owned"
    victim.write_text("untouched\n")
    victim.chmod(0o644)
    in_session(
        world,
        "evil",
        f"ln -s {secret} {REPO}/to-secret && ln -s {victim} {REPO}/to-victim && "
        f"ln -s /etc/shadow {REPO}/to-shadow && ln -s {world.sessions_dir} {REPO}/to-sessions",
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        ("read_file", {"session": "evil", "path": f"{REPO}/to-secret"}),
        ("read_file", {"session": "evil", "path": f"{REPO}/to-shadow"}),
        ("write_file", {"session": "evil", "path": f"{REPO}/to-victim", "content": "pwned\n"}),
        ("write_file", {"session": "evil", "path": f"{REPO}/to-sessions/{world.user('evil')}.json", "content": "{}"}),
        ("read_file", {"session": "evil", "path": f"{REPO}/../../../../{secret}"}),
        ("checkpoint", {"session": "evil", "label": "\x1b]0;title\x07"}),
        ("read_file", {"session": "evil", "path": f"{REPO}/README"}),
    ]
    results = _mcp_calls(world, calls)
    for result in results[:6]:
        assert result.is_error, _text(result)
        assert "root only" not in _text(result) and "root:" not in _text(result)
    assert "control characters" in _text(results[5])
    assert not results[6].is_error  # the tools still work for what the session may read
    assert victim.read_text() == "untouched\n"
    assert json.loads((world.sessions_dir / f"{world.user('evil')}.json").read_text())["name"] == "evil"
    assert pwd.getpwnam(world.user("evil"))
