"""What every command set shares: the context, and parsers built from parsers.py with completion.

Every argument parsers.py marks with `completes(action, KIND)` gets a cmd2 choices provider
here, so commands added later complete sessions, repositories and sizes with no extra code.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

import cmd2

from herodev_shell.cli import completion_data, parsers
from herodev_shell.cli.context import AppContext


class HerodevCommands(cmd2.CommandSet):  # type: ignore[type-arg]
    @property
    def ctx(self) -> AppContext:
        # The shell (shell.py) carries the context; naming its class here would be an import cycle.
        ctx: AppContext = self._cmd.ctx
        return ctx


class HerodevArgumentParser(cmd2.Cmd2ArgumentParser):
    """cmd2's parser, with herodev's error format: one `error:` line and a usage hint."""

    def error(self, message: str) -> NoReturn:
        parsers.usage_error(self, message)


# cmd2 calls a plain (module-level) choices provider with the app as its first argument.
def _session_choices(app: Any) -> cmd2.Choices:
    return cmd2.Choices.from_values(completion_data.session_names(app.ctx.settings), is_sorted=True)


def _repo_choices(app: Any, arg_tokens: dict[str, list[str]]) -> cmd2.Choices:
    ctx: AppContext = app.ctx
    explicit = [token for token in arg_tokens.get("session", []) if token]
    session = explicit[0] if explicit else ctx.current_session
    return cmd2.Choices.from_values(completion_data.repo_paths(ctx.settings, session), is_sorted=True)


def _size_choices(app: Any) -> cmd2.Choices:
    return cmd2.Choices.from_values(completion_data.sizes(), is_sorted=True)


PROVIDERS = {parsers.SESSIONS: _session_choices, parsers.REPOS: _repo_choices, parsers.SIZES: _size_choices}


def attach_completers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give each marked argument its choices provider (also inside subcommand parsers)."""
    for action in parser._actions:
        kind = parsers.completion_kind(action)
        provider = PROVIDERS.get(kind) if kind else None
        if provider is not None and action.choices is None and action.nargs != 0:
            action.set_choices_provider(provider)  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                attach_completers(sub)
    return parser


def build_parser(name: str) -> cmd2.Cmd2ArgumentParser:
    """The cmd2 parser of a command: the shared definition, herodev errors, completion attached."""
    parser = parsers.build(name, HerodevArgumentParser)
    return attach_completers(parser)  # type: ignore[return-value]


def parser_for(name: str) -> Callable[[], cmd2.Cmd2ArgumentParser]:
    """A zero-argument factory for with_argparser, building the shared definition with cmd2's class."""

    def factory() -> cmd2.Cmd2ArgumentParser:
        return build_parser(name)

    return factory
