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
    return cmd2.Choices.from_values(completion_data.sizes(), is_sorted=True)  # kept in size order


def _remote_choices(app: Any, arg_tokens: dict[str, list[str]]) -> cmd2.Choices:
    named = [token for token in arg_tokens.get("repos", []) if token]
    return cmd2.Choices.from_values(completion_data.remote_names(app.ctx.settings, named or None), is_sorted=True)


PROVIDERS = {
    parsers.SESSIONS: _session_choices,
    parsers.REPOS: _repo_choices,
    parsers.SIZES: _size_choices,
    parsers.REMOTES: _remote_choices,
}


def _after_dashdash(line: str, begidx: int) -> list[str] | None:
    """The words between a bare `--` and the cursor; None when no `--` came before it."""
    words = line[:begidx].split()
    return words[words.index("--", 1) + 1 :] if "--" in words[1:] else None


def _session_or_command(app: Any, text: str, line: str, begidx: int, endidx: int) -> cmd2.Completions:
    """NAME of `enter [NAME] -- CMD` (and exec): a session, unless `--` came first; then the
    word is CMD (`enter -- <Tab>` with the session in use) and gets commands, then files."""
    after = _after_dashdash(line, begidx)
    if after is None:
        names = [n for n in completion_data.session_names(app.ctx.settings) if n.startswith(text)]
        return cmd2.Completions(items=[cmd2.CompletionItem(n) for n in names])
    return _command_words(app, after, text, line, begidx, endidx)


def _command_line(app: Any, text: str, line: str, begidx: int, endidx: int) -> cmd2.Completions:
    """CMD ARGS after NAME: a command first, then file names."""
    after = _after_dashdash(line, begidx)
    if after is None:
        after = line[:begidx].split()[2:]  # `enter NAME CMD`: what follows NAME
    return _command_words(app, after, text, line, begidx, endidx)


def _command_words(app: Any, after: list[str], text: str, line: str, begidx: int, endidx: int) -> cmd2.Completions:
    if not after:
        return app.shell_cmd_complete(text, line, begidx, endidx, complete_blank=True)  # type: ignore[no-any-return]
    return app.path_complete(text, line, begidx, endidx)  # type: ignore[no-any-return]


def _attach_command_line(parser: argparse.ArgumentParser) -> bool:
    """`NAME -- CMD ARGS` commands: the words after `--` complete as a command line."""
    actions = [a for a in parser._actions if not a.option_strings]
    if not actions or actions[-1].nargs != argparse.REMAINDER:
        return False
    for action in actions[:-1]:
        if parsers.completion_kind(action) == parsers.SESSIONS:
            action.set_completer(_session_or_command)  # type: ignore[attr-defined]
    actions[-1].set_completer(_command_line)  # type: ignore[attr-defined]
    return True


def attach_completers(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give each marked argument its choices provider (also inside subcommand parsers)."""
    command_line = _attach_command_line(parser)
    for action in parser._actions:
        if command_line and not action.option_strings:
            continue
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
