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
