"""The command table: every handler resolves, and the audit rule reads parsed arguments."""

from __future__ import annotations

import inspect

import pytest

from herodev_shell.cli import commands, parsers


@pytest.mark.parametrize("command", [c for c, s in parsers.COMMANDS.items() if s.handler is not None])
def test_every_handler_resolves_to_a_function_of_ctx_and_args(command: str) -> None:
    handler = commands.load(command)
    assert callable(handler)
    assert list(inspect.signature(handler).parameters) == ["ctx", "args"]


def test_only_menu_needs_the_shell() -> None:
    assert [c for c, s in parsers.COMMANDS.items() if s.handler is None] == ["menu"]
    with pytest.raises(KeyError):
        commands.load("menu")


def test_every_session_arg_names_an_argument_of_the_parser() -> None:
    for command, spec in parsers.COMMANDS.items():
        if spec.session_arg is None:
            continue
        dests = {action.dest for action in parsers.build(command)._actions}
        assert spec.session_arg in dests, command


def test_changing_commands_are_the_audited_ones() -> None:
    audited = {c for c, s in parsers.COMMANDS.items() if s.changes}
    assert audited == {
        *("init", "create", "enter", "delete", "commit", "push", "reorganize", "prune", "pull", "repair"),
        *("checkpoint", "rewind", "fork"),
        *("limit", "exec", "setup"),
    }


def parse(command: str, *words: str):
    return parsers.build(command).parse_args(list(words))


@pytest.mark.parametrize(
    ("command", "words", "current", "expected"),
    [
        ("create", ["alice"], "bob", "alice"),
        ("delete", ["-f", "alice"], None, "alice"),
        ("enter", [], "bob", "bob"),  # no NAME: the session in use
        ("enter", ["alice", "--", "-s", "x"], "bob", "alice"),  # words after -- are the command's
        ("commit", ["-s", "alice", "-m", "msg"], "bob", "alice"),
        ("commit", ["--session=alice", "-m", "msg"], None, "alice"),
        ("commit", ["-salice", "-m=-s bob"], None, "alice"),  # "-s bob" is the message here, not a session
        ("push", ["-m", "x"], "bob", "bob"),
        ("prune", ["--older-than", "1d"], "bob", None),  # acts on no one session
        ("repair", [], "bob", None),
    ],
)
def test_the_session_comes_from_the_parsed_arguments(
    command: str, words: list[str], current: str | None, expected: str | None
) -> None:
    spec = parsers.COMMANDS[command]
    assert parsers.session_of(spec, parse(command, *words), current) == expected


def test_a_failed_parse_leaves_only_the_session_in_use() -> None:
    assert parsers.session_of(parsers.COMMANDS["delete"], None, "bob") == "bob"
    assert parsers.session_of(parsers.COMMANDS["init"], None, "bob") is None


def test_aliases_resolve_to_their_command() -> None:
    assert parsers.canonical("sessions") == "list"
    assert parsers.canonical("list") == "list"
    assert parsers.canonical("nosuch") is None


def test_enter_dash_dash_runs_in_the_session_in_use_and_audits_it() -> None:
    from herodev_shell.cli.commands.session_cmds import _enter_parts

    args = parse("enter", "--", "sh", "-c", "true")
    args.argv = ["enter", "--", "sh", "-c", "true"]
    assert _enter_parts(args) == (None, ["sh", "-c", "true"])
    assert parsers.session_of(parsers.COMMANDS["enter"], args, "bob") == "bob"


# --- -n/--dry-run on every command that changes something, and the audit of what ran ---------

DRY = sorted(c for c, s in parsers.COMMANDS.items() if s.takes_dry_run)


def test_every_changing_command_takes_dry_run() -> None:
    assert {c for c, s in parsers.COMMANDS.items() if s.changes} <= set(DRY)
    assert {"limit", "exec", "setup"} <= set(DRY)
    for command in DRY:
        strings = parsers.build(command)._option_string_actions
        assert "--dry-run" in strings and strings["--dry-run"].dest == "dry_run", command


def _ctx(tmp_path):  # type: ignore[no-untyped-def]
    import io

    from herodev_shell.cli.context import AppContext
    from herodev_shell.cli.render import Renderer
    from herodev_shell.core.settings import Settings
    from herodev_shell.system.runner import Runner

    settings = Settings(code_root=tmp_path / "code", audit_log=tmp_path / "audit.jsonl")
    return AppContext(settings, Runner(), Renderer(stdout=io.StringIO, stderr=io.StringIO()))


@pytest.mark.parametrize("command", DRY)
@pytest.mark.parametrize("where", ["one-shot", "shell"])
def test_a_commands_own_dry_run_runs_it_dry_and_unaudited(tmp_path, monkeypatch, command: str, where: str) -> None:  # type: ignore[no-untyped-def]
    from herodev_shell.cli import dispatch

    ctx = _ctx(tmp_path)
    seen: list[bool] = []

    def handler(ctx, args):  # type: ignore[no-untyped-def]
        seen.append(ctx.dry_run)

    monkeypatch.setattr(commands, "load", lambda name: handler)
    words = _minimal_words(command)
    words.insert(1, "-n")
    if where == "one-shot":
        assert dispatch.run_argv(ctx, words) == 0
    else:
        from herodev_shell.cli.scripting import join_for_shell_line
        from herodev_shell.cli.shell import HerodevShell

        app = HerodevShell(ctx, stdout=__import__("io").StringIO())
        app.onecmd_plus_hooks(join_for_shell_line(words), add_to_history=False)
        assert app.exit_code == 0
    assert seen == [True]  # the handler saw a dry run
    assert not ctx.dry_run  # and only that command was dry
    assert not (tmp_path / "audit.jsonl").exists()  # a dry run changes nothing: no audit line


def _minimal_words(command: str) -> list[str]:
    needs = {"create": ["x"], "delete": ["x"], "checkpoint": ["x"], "rewind": ["x", "c1"], "fork": ["x", "y"]}
    needs |= {"commit": ["-m", "msg"], "exec": ["x", "--", "true"], "limit": ["x"], "setup": ["x"]}
    return [command, *needs.get(command, [])]


@pytest.mark.parametrize("words", [["delete", "-h"], ["delete"], ["delete", "--bogus", "x"], ["push", "--nope"]])
def test_help_and_usage_errors_are_not_audited(tmp_path, words: list[str]) -> None:  # type: ignore[no-untyped-def]
    from herodev_shell.cli import dispatch

    code = dispatch.run_argv(_ctx(tmp_path), words)
    assert code == (0 if "-h" in words else 2)
    assert not (tmp_path / "audit.jsonl").exists()


def test_a_command_that_failed_while_acting_is_audited(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from herodev_shell.cli import dispatch
    from herodev_shell.errors import HerodevError

    def handler(ctx, args):  # type: ignore[no-untyped-def]
        raise HerodevError("the disk said no")

    monkeypatch.setattr(commands, "load", lambda name: handler)
    assert dispatch.run_argv(_ctx(tmp_path), ["delete", "x"]) == 1
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert line["command"] == "delete" and line["outcome"] == "failed" and line["session"] == "x"


@pytest.mark.parametrize(("words", "audited"), [(["limit", "x"], False), (["limit", "x", "--tasks", "100"], True)])
def test_limit_that_only_shows_is_not_audited(tmp_path, monkeypatch, words: list[str], audited: bool) -> None:  # type: ignore[no-untyped-def]
    from herodev_shell.cli import dispatch

    monkeypatch.setattr(commands, "load", lambda name: lambda ctx, args: 0)
    assert dispatch.run_argv(_ctx(tmp_path), words) == 0
    assert (tmp_path / "audit.jsonl").exists() is audited  # `limit NAME` alone shows the limits
