"""`herodev mcp`: the Model Context Protocol on stdio (official Python SDK), one tool per operation.

Each tool is a thin call into the same core function the command uses, so validation and
errors are the same; a HerodevError becomes an MCP tool error carrying its message and hint.
Every call is audited (`mcp <tool>` in the audit log). Destructive tools (delete, rewind) do
nothing without an explicit confirm=true. Files are read and written by a child running as
the session user inside the session's namespace (core/execution.py), never by root through
a path the session could shape. Tool calls run one at a time: the core was written for one
command per process.

The SDK is imported only here, when `mcp` runs: other commands never pay for it.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import to_plain
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system import privileges

INSTRUCTIONS = (
    "herodev gives every agent its own session: a user plus an O(1) btrfs snapshot of the server's code "
    "tree. Create a session, run commands in it (exec), read and write files in it, checkpoint it before a "
    "risky step, rewind or fork it, review changes and diff, commit and push. Paths are relative to the code "
    "root (or absolute under it). delete and rewind need confirm=true."
)
WRITE_SCRIPT = 'cat > "$1"'  # sh -c WRITE_SCRIPT herodev-write PATH, content on stdin


# The core's hints name shell commands; an agent has tools and arguments instead.
_MCP_WORDS = (
    (re.compile(r"'herodev (?:delete|rewind) -f [^']*'"), "force=true"),
    (re.compile(r"'herodev list'"), "the list_sessions tool"),
    (re.compile(r"'herodev checkpoints [^']*'"), "the list_checkpoints tool"),
)


def mcp_phrasing(hint: str) -> str:
    for pattern, words in _MCP_WORDS:
        hint = pattern.sub(words, hint)
    return hint


class Tools:
    """The operations, as plain methods returning JSON-able data (tests call them directly)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()

    @property
    def settings(self) -> Any:
        return self.ctx.settings

    @property
    def runner(self) -> Any:
        return self.ctx.runner

    def call(self, tool: str, session: str | None, work: Callable[[], Any]) -> Any:
        """Run one tool under the lock, audit it, and turn herodev's errors into tool errors."""
        from mcp.server.mcpserver.exceptions import ToolError

        from herodev_shell.core import audit

        with self._lock:
            audit.take_details()
            try:
                result = to_plain(work())
            except HerodevError as exc:
                self._audit(tool, session, exc.message)
                text = exc.message + (f" (hint: {mcp_phrasing(exc.hint)})" if exc.hint else "")
                raise ToolError(text) from None
            except Exception as exc:
                self._audit(tool, session, f"internal error: {type(exc).__name__}")
                raise ToolError(f"internal error: {type(exc).__name__}: {exc}") from None
            self._audit(tool, session, None)
            return result

    def _audit(self, tool: str, session: str | None, error: str | None) -> None:
        from herodev_shell.core import audit

        details = audit.take_details()
        outcome = audit.FAILED if error else audit.OK
        # The log is the record; a failure to write it must not hide the tool's own result.
        with contextlib.suppress(HerodevError):
            audit.record(self.settings, f"mcp {tool}", session, outcome, error, details)

    # --- sessions ---------------------------------------------------------------------------

    def list_all(self) -> dict[str, Any]:
        from herodev_shell.core import sessions

        return {"sessions": sessions.list_sessions(self.settings)}

    def create(
        self, name: str, quota: str | None, memory: str | None, cpus: str | None, tasks: str | None
    ) -> dict[str, Any]:
        from herodev_shell.core import hooks, limits, sessions
        from herodev_shell.core.settings import parse_size

        size = parse_size(quota) if quota else None
        wanted = limits.parse_limits(memory, cpus, tasks, base=limits.default_limits(self.settings))
        info = sessions.create_session(self.settings, self.runner, name, quota=size, limits=wanted)
        # As the create command: the session exists from here on, a failing hook is reported in `setup`.
        setup = hooks.run_setup_hooks(self.settings, self.runner, info.name)
        return {"session": info, "setup": setup}

    def delete(self, name: str, confirm: bool, force: bool) -> dict[str, Any]:
        from herodev_shell.core import sessions

        if not confirm:
            raise UsageError(
                f"delete needs confirm=true: it removes session {name}, its user and its checkpoints",
                hint="force=true also throws away uncommitted or unpushed work and ends its processes",
            )
        return {"deleted": sessions.delete_session(self.settings, self.runner, name, force=force)}

    # --- inside a session ---------------------------------------------------------------------

    def exec(self, name: str, command: list[str], timeout: float | None, stdin: str | None) -> dict[str, Any]:
        from herodev_shell.core import execution

        data = stdin.encode() if stdin is not None else None
        result = execution.exec_in_session(
            self.settings, self.runner, name, command, timeout, input=data, cwd=self._cwd()
        )
        return {"result": result}

    def read_file(self, name: str, path: str) -> dict[str, Any]:
        from herodev_shell.core import execution

        where = self._path(path)
        argv = ["cat", "--", where]
        done = execution.exec_in_session(self.settings, self.runner, name, argv, None, cwd=self._cwd())
        if done.status != 0:
            raise HerodevError(f"cannot read {path} in session {name}: {done.stderr.strip() or done.status}")
        if done.truncated:
            raise HerodevError(f"{path} in session {name} is too large to read whole", hint="read it with exec")
        return {"path": where, "content": done.stdout}

    def write_file(self, name: str, path: str, content: str) -> dict[str, Any]:
        from herodev_shell.core import execution

        where = self._path(path)
        argv = ["sh", "-c", WRITE_SCRIPT, "herodev-write", where]
        done = execution.exec_in_session(
            self.settings, self.runner, name, argv, None, input=content.encode(), cwd=self._cwd()
        )
        if done.status != 0:
            raise HerodevError(f"cannot write {path} in session {name}: {done.stderr.strip() or done.status}")
        return {"path": where, "bytes": len(content.encode())}

    def _cwd(self) -> str:
        return str(self.settings.code_root)  # the session's tree, as its namespace shows it

    def _path(self, path: str) -> str:
        """A path the session user resolves itself (in its own namespace): relative ones from the
        code root. Only text reaches the child: root never opens it."""
        if not path or "\x00" in path:
            raise UsageError("a file path is needed (no NUL bytes)")
        return path if path.startswith("/") else f"{self.settings.code_root}/{path}"

    # --- changes and delivery -------------------------------------------------------------------

    def changes(self, name: str, start: str | None, end: str | None, full: bool) -> dict[str, Any]:
        from herodev_shell.core import changes

        report = changes.scan(self.settings, self.runner, name, full, start=start, end=end)
        return {"repos": report.repos, "outside": report.outside, "method": report.method}

    def diff(
        self, name: str, repos: list[str] | None, stat: bool, start: str | None, end: str | None
    ) -> dict[str, Any]:
        from herodev_shell.core import changes

        return {"diff": changes.diff(self.settings, self.runner, name, list(repos or []), stat, start=start, end=end)}

    def commit(self, name: str, message: str, repos: list[str] | None) -> dict[str, Any]:
        from herodev_shell.core import delivery

        self._need_root("commit")
        return {"outcomes": delivery.commit(self.settings, self.runner, name, message, list(repos or []))}

    def push(self, name: str, repos: list[str] | None, message: str | None, remote: str | None) -> dict[str, Any]:
        from herodev_shell.core import delivery

        self._need_root("push")
        outcomes = delivery.push(self.settings, self.runner, name, list(repos or []), message, remote)
        failed = [o.path for o in outcomes if o.status == delivery.FAILED]
        if failed:
            details = "; ".join(f"{o.path}: {o.detail}" for o in outcomes if o.status == delivery.FAILED)
            raise HerodevError(f"push failed in {', '.join(failed)}: {details}", hint="the work stays in the session")
        return {"outcomes": outcomes}

    def _need_root(self, command: str) -> None:

        privileges.require_root(command)

    # --- checkpoints ------------------------------------------------------------------------------

    def checkpoint(self, name: str, label: str) -> dict[str, Any]:
        from herodev_shell.core import checkpoints

        return {"checkpoint": checkpoints.create_checkpoint(self.settings, self.runner, name, label)}

    def checkpoints(self, name: str) -> dict[str, Any]:
        from herodev_shell.core import checkpoints

        return {"checkpoints": checkpoints.list_checkpoints(self.settings, self.runner, name)}

    def rewind(self, name: str, checkpoint: str, confirm: bool, force: bool) -> dict[str, Any]:
        from herodev_shell.core import checkpoints

        if not confirm:
            raise UsageError(
                f"rewind needs confirm=true: session {name} goes back to checkpoint {checkpoint}",
                hint="its current state is kept as a safety checkpoint; force=true also ends its processes",
            )
        return {"rewind": checkpoints.rewind(self.settings, self.runner, name, checkpoint, force=force)}

    def fork(self, name: str, new: str, from_checkpoint: str | None) -> dict[str, Any]:
        from herodev_shell.core import hooks
        from herodev_shell.core.forks import fork_session

        info = fork_session(self.settings, self.runner, name, new, from_checkpoint)
        return {"session": info, "setup": hooks.run_setup_hooks(self.settings, self.runner, info.name)}


def build_server(tools: Tools) -> Any:
    """The MCPServer with every tool registered; each a one-line call into Tools."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from herodev_shell import __version__

    server = MCPServer("herodev", version=__version__, instructions=INSTRUCTIONS)
    reads = ToolAnnotations(read_only_hint=True, destructive_hint=False)
    destroys = ToolAnnotations(read_only_hint=False, destructive_hint=True)
    t = tools

    @server.tool(annotations=reads)
    def list_sessions() -> dict[str, Any]:
        """Every session: name, user, path, created, processes, whether it changed."""
        return t.call("list", None, t.list_all)  # type: ignore[no-any-return]

    @server.tool()
    def create(
        name: str,
        quota: str | None = None,
        memory: str | None = None,
        cpus: str | None = None,
        tasks: str | None = None,
    ) -> dict[str, Any]:
        """Create a session NAME (a user and a snapshot of the code tree) with optional limits
        (quota/memory like 10G, cpus like 2, tasks like 2000); then its setup hooks run."""
        return t.call("create", name, lambda: t.create(name, quota, memory, cpus, tasks))  # type: ignore[no-any-return]

    @server.tool()
    def exec(
        session: str, command: list[str], timeout: float | None = None, stdin: str | None = None
    ) -> dict[str, Any]:
        """Run COMMAND (argv list) as the session's user inside the session, cwd the code root;
        returns status, stdout, stderr."""
        return t.call("exec", session, lambda: t.exec(session, command, timeout, stdin))  # type: ignore[no-any-return]

    @server.tool(annotations=reads)
    def read_file(session: str, path: str) -> dict[str, Any]:
        """A text file's content, read as the session's user inside the session."""
        return t.call("read_file", session, lambda: t.read_file(session, path))  # type: ignore[no-any-return]

    @server.tool()
    def write_file(session: str, path: str, content: str) -> dict[str, Any]:
        """Write CONTENT to a file as the session's user inside the session (replacing it)."""
        return t.call("write_file", session, lambda: t.write_file(session, path, content))  # type: ignore[no-any-return]

    @server.tool(annotations=reads)
    def changes(
        session: str, from_checkpoint: str | None = None, to_checkpoint: str | None = None, full: bool = False
    ) -> dict[str, Any]:
        """Repositories with uncommitted changes, new commits or unpushed work; between two
        checkpoints with from_checkpoint/to_checkpoint."""
        work = lambda: t.changes(session, from_checkpoint, to_checkpoint, full)  # noqa: E731
        return t.call("changes", session, work)  # type: ignore[no-any-return]

    @server.tool(annotations=reads)
    def diff(
        session: str,
        repos: list[str] | None = None,
        stat: bool = False,
        from_checkpoint: str | None = None,
        to_checkpoint: str | None = None,
    ) -> dict[str, Any]:
        """The changes themselves: staged, unstaged, and unpushed commits' patches."""
        work = lambda: t.diff(session, repos, stat, from_checkpoint, to_checkpoint)  # noqa: E731
        return t.call("diff", session, work)  # type: ignore[no-any-return]

    @server.tool()
    def commit(session: str, message: str, repos: list[str] | None = None) -> dict[str, Any]:
        """Commit all changes in the changed (or named) repositories of the session."""
        return t.call("commit", session, lambda: t.commit(session, message, repos))  # type: ignore[no-any-return]

    @server.tool()
    def push(
        session: str, repos: list[str] | None = None, message: str | None = None, remote: str | None = None
    ) -> dict[str, Any]:
        """Push each repository's current branch to its remote (commit first with message)."""
        return t.call("push", session, lambda: t.push(session, repos, message, remote))  # type: ignore[no-any-return]

    @server.tool()
    def checkpoint(session: str, label: str = "") -> dict[str, Any]:
        """A read-only checkpoint of the session (O(1)), to rewind to or fork from."""
        return t.call("checkpoint", session, lambda: t.checkpoint(session, label))  # type: ignore[no-any-return]

    @server.tool(annotations=reads)
    def list_checkpoints(session: str) -> dict[str, Any]:
        """The session's checkpoints: id, label, created, kind, size."""
        return t.call("checkpoints", session, lambda: t.checkpoints(session))  # type: ignore[no-any-return]

    @server.tool(annotations=destroys)
    def rewind(session: str, checkpoint: str, confirm: bool = False, force: bool = False) -> dict[str, Any]:
        """Take the session back to CHECKPOINT (needs confirm=true); its current state is kept
        as a safety checkpoint first. force=true ends its running processes."""
        work = lambda: t.rewind(session, checkpoint, confirm, force)  # noqa: E731
        return t.call("rewind", session, work)  # type: ignore[no-any-return]

    @server.tool()
    def fork(session: str, new: str, from_checkpoint: str | None = None) -> dict[str, Any]:
        """A new session NEW starting from SESSION's current state (or one of its checkpoints)."""
        return t.call("fork", new, lambda: t.fork(session, new, from_checkpoint))  # type: ignore[no-any-return]

    @server.tool(annotations=destroys)
    def delete(session: str, confirm: bool = False, force: bool = False) -> dict[str, Any]:
        """Delete the session, its user and checkpoints (needs confirm=true). Refuses while it
        holds unpushed work or runs processes unless force=true."""
        return t.call("delete", session, lambda: t.delete(session, confirm, force))  # type: ignore[no-any-return]

    return server


def serve(ctx: AppContext) -> None:
    """Speak MCP on stdin/stdout until the client closes them."""
    build_server(Tools(ctx)).run("stdio")
