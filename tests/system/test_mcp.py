"""`herodev mcp` driven by the official SDK's stdio client, end to end in a real world."""

from __future__ import annotations

import json
import pwd
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import HerodevEnv
from tests.system.gitworld import clone_into_code, git, git_world, make_remote, session_dir

pytestmark = pytest.mark.system
mcp = pytest.importorskip("mcp", reason="the mcp package is not installed")

REPO = "example.com/org/agent"


@pytest.fixture(scope="module")
def mw() -> Iterator[tuple[HerodevEnv, pwd.struct_passwd, Any]]:
    with git_world("herodev-mcp-") as (world, owner):
        remote = make_remote(world, "agent", {"README": "hello\n"})
        clone_into_code(world, owner, str(remote), REPO)
        yield world, owner, remote


async def _session(world: HerodevEnv, steps: Any) -> Any:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "herodev_shell", "mcp"], env=world.env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        return await steps(client)


def run(world: HerodevEnv, steps: Any) -> Any:
    import anyio

    return anyio.run(_session, world, steps)


def data(result: Any) -> Any:
    """A tool result's structured content (or its text as JSON)."""
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_an_agent_drives_a_session_from_create_to_delete(mw: tuple[HerodevEnv, pwd.struct_passwd, Any]) -> None:
    world, _, remote = mw

    async def steps(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        tools = {t.name: t for t in (await client.list_tools()).tools}
        seen["tools"] = sorted(tools)
        seen["delete_schema"] = tools["delete"].input_schema
        seen["create"] = data(await client.call_tool("create", {"name": "agent"}))
        seen["bad_name"] = error_text(await client.call_tool("create", {"name": "Bad Name"}))
        seen["exec"] = data(await client.call_tool("exec", {"session": "agent", "command": ["id", "-un"]}))
        seen["write"] = data(
            await client.call_tool("write_file", {"session": "agent", "path": f"{REPO}/notes.txt", "content": "hi\n"})
        )
        seen["read"] = data(await client.call_tool("read_file", {"session": "agent", "path": f"{REPO}/notes.txt"}))
        seen["missing"] = error_text(await client.call_tool("read_file", {"session": "agent", "path": "nope"}))
        seen["changes"] = data(await client.call_tool("changes", {"session": "agent"}))
        seen["checkpoint"] = data(await client.call_tool("checkpoint", {"session": "agent", "label": "before"}))
        seen["commit"] = data(await client.call_tool("commit", {"session": "agent", "message": "from an agent"}))
        seen["push"] = data(await client.call_tool("push", {"session": "agent"}))
        seen["unconfirmed"] = error_text(await client.call_tool("delete", {"session": "agent"}))
        seen["refused"] = error_text(await client.call_tool("delete", {"session": "agent", "confirm": True}))
        seen["delete"] = data(await client.call_tool("delete", {"session": "agent", "confirm": True, "force": True}))
        seen["list"] = data(await client.call_tool("list_sessions", {}))
        return seen

    seen = run(world, steps)
    assert {"list_sessions", "create", "exec", "read_file", "write_file", "changes", "diff", "checkpoint"} <= set(
        seen["tools"]
    )
    assert {"list_checkpoints", "rewind", "fork", "commit", "push", "delete"} <= set(seen["tools"])
    assert "confirm" in seen["delete_schema"]["properties"]
    assert seen["create"]["session"]["user"] == world.user("agent")
    assert "invalid" in seen["bad_name"].lower() or "name" in seen["bad_name"]
    assert seen["exec"]["result"]["status"] == 0
    assert seen["exec"]["result"]["stdout"] == world.user("agent") + "\n"  # the session's user, not root
    assert seen["write"]["bytes"] == 3
    assert seen["read"]["content"] == "hi\n"
    assert "cannot read nope" in seen["missing"]
    assert [(r["path"], r["untracked"]) for r in seen["changes"]["repos"]] == [(REPO, 1)]
    assert seen["checkpoint"]["checkpoint"]["label"] == "before"
    assert [o["status"] for o in seen["commit"]["outcomes"]] == ["done"]
    assert [o["status"] for o in seen["push"]["outcomes"]] == ["done"]
    assert git("log", "-1", "--format=%s", "main", cwd=remote) == "from an agent"
    assert "confirm=true" in seen["unconfirmed"]
    # pushed work is safe, but checkpoint 1 still holds the uncommitted file: delete refuses
    assert "checkpoint 1 holds" in seen["refused"]
    assert "force=true" in seen["refused"] and "herodev delete" not in seen["refused"]  # an agent's words
    assert seen["delete"]["deleted"]["checkpoints"] == ["1"]
    assert seen["list"]["sessions"] == []
    assert not session_dir(world, "agent").exists()
    audit = [json.loads(line) for line in (world.base / "audit.jsonl").read_text().splitlines()]
    mcp_lines = [(e["command"], e["outcome"]) for e in audit if e["command"].startswith("mcp ")]
    assert ("mcp create", "ok") in mcp_lines and ("mcp delete", "failed") in mcp_lines
    assert ("mcp write_file", "ok") in mcp_lines and ("mcp delete", "ok") in mcp_lines


def test_an_agent_checkpoints_rewinds_and_forks(mw: tuple[HerodevEnv, pwd.struct_passwd, Any]) -> None:
    world, _, _ = mw

    async def steps(client: Any) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def call(tool: str, **args: Any) -> Any:
            return await client.call_tool(tool, args)

        data(await call("create", name="try"))
        data(await call("write_file", session="try", path=f"{REPO}/plan.txt", content="plan A\n"))
        seen["cp"] = data(await call("checkpoint", session="try", label="plan A"))
        data(await call("write_file", session="try", path=f"{REPO}/plan.txt", content="plan B\n"))
        seen["unconfirmed"] = error_text(await call("rewind", session="try", checkpoint="1"))
        seen["rewind"] = data(await call("rewind", session="try", checkpoint="1", confirm=True))
        seen["after"] = data(await call("read_file", session="try", path=f"{REPO}/plan.txt"))
        seen["fork"] = data(await call("fork", session="try", new="tryb", from_checkpoint="2"))
        seen["fork_read"] = data(await call("read_file", session="tryb", path=f"{REPO}/plan.txt"))
        seen["between"] = data(await call("changes", session="try", from_checkpoint="1", to_checkpoint="2"))
        seen["cps"] = data(await call("list_checkpoints", session="try"))
        seen["bad_label"] = error_text(await call("checkpoint", session="try", label="a\x1bb"))
        for name in ("tryb", "try"):
            data(await call("delete", session=name, confirm=True, force=True))
        seen["list"] = data(await call("list_sessions"))
        return seen

    seen = run(world, steps)
    assert seen["cp"]["checkpoint"]["id"] == "1"
    assert "confirm=true" in seen["unconfirmed"]
    assert seen["rewind"]["rewind"]["safety"]["id"] == "2"  # plan B is kept, as a safety checkpoint
    assert seen["after"]["content"] == "plan A\n"
    assert seen["fork"]["session"]["name"] == "tryb"
    assert seen["fork_read"]["content"] == "plan B\n"
    assert [r["touched"] for r in seen["between"]["repos"]] == [[f"{REPO}/plan.txt"]]
    assert [(c["id"], c["kind"]) for c in seen["cps"]["checkpoints"]] == [("1", "manual"), ("2", "safety")]
    assert "control characters" in seen["bad_label"]
    assert [s["name"] for s in seen["list"]["sessions"]] == []
