"""argv -> settings -> one-shot or REPL; the exit code of the whole run.

Kept light: --version, --help and the completion helper answer without importing cmd2,
rich or pygit2.
"""

from __future__ import annotations

import argparse
import os
import sys

from herodev_shell import __version__
from herodev_shell.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, HerodevError

EPILOG = """commands:
{commands}

Run 'herodev help COMMAND' or 'herodev COMMAND -h' for a command's options."""


class _GlobalParser(argparse.ArgumentParser):
    def format_help(self) -> str:
        # The command list imports parsers.py: only when help is asked for, not for --version.
        if self.epilog is None:
            self.epilog = EPILOG.format(commands=_commands_epilog())
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        from herodev_shell.cli.messages import write_error

        write_error(sys.stderr, message, "herodev --help lists the options")
        raise SystemExit(EXIT_USAGE)


def _commands_epilog() -> str:
    from herodev_shell.cli.parsers import COMMANDS

    width = max(len(name) for name in COMMANDS)
    return "\n".join(f"  {name:<{width}}  {spec.summary}" for name, spec in COMMANDS.items())


def global_parser() -> argparse.ArgumentParser:
    parser = _GlobalParser(
        prog="herodev",
        description="Isolated copies of the code tree for every developer or agent, and their work back out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-c", "--command", dest="command_text", metavar="TEXT", help="run commands split on ';'")
    parser.add_argument("-f", "--force", action="store_true", help="never prompt, assume yes")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--no-color", action="store_true", help="no colour (NO_COLOR does the same)")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo every system command; tracebacks")
    parser.add_argument("-n", "--dry-run", action="store_true", help="print what would change, change nothing")
    parser.add_argument("--no-pager", action="store_true", help="never send long output through $PAGER")
    parser.add_argument("--config", metavar="FILE", help="config file (default /etc/herodev/config.toml)")
    parser.add_argument("--code-root", metavar="PATH", help="the code root (default /code)")
    parser.add_argument("--version", action="version", version=f"herodev {__version__}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="a command and its arguments")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["__complete"]:
        from herodev_shell.cli.completion_data import main as complete_main

        return complete_main(argv[1:])
    options = global_parser().parse_args(argv)
    try:
        return _run(options)
    except HerodevError as error:
        from herodev_shell.cli.messages import write_error

        write_error(sys.stderr, error.message, error.hint)
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED


def _run(options: argparse.Namespace) -> int:
    from herodev_shell.cli.context import ONE_SHOT, SCRIPT, AppContext
    from herodev_shell.cli.render import Renderer, wants_color
    from herodev_shell.core.settings import load_settings
    from herodev_shell.system.runner import Runner

    settings = load_settings(flags={"code_root": options.code_root}, config_file=options.config)
    color = wants_color(sys.stdout, options.no_color)
    if not color:
        # prompt_toolkit and cmd2 read these: no escape codes, no cursor-position queries.
        os.environ.setdefault("PROMPT_TOOLKIT_NO_CPR", "1")
    renderer = Renderer(color=color, json_mode=options.json, verbose=options.verbose)
    if not options.no_pager:
        renderer.pager = _pager(settings.pager)
    # The runner's `+ command` and `would run:` lines name session paths: through the renderer.
    runner = Runner(verbose=options.verbose, dry_run=options.dry_run, echo=renderer.note)
    if options.command and options.command_text:
        raise HerodevError("give either -c TEXT or a command, not both", exit_code=EXIT_USAGE)
    interactive = sys.stdin.isatty()
    ctx = AppContext(settings, runner, renderer, force=options.force, json=options.json, interactive=interactive)

    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    # Most runs need no interactive shell: parse with plain argparse and skip importing cmd2.
    from herodev_shell.cli import dispatch
    from herodev_shell.cli.scripting import join_for_shell_line

    if command and dispatch.runs_without_shell(command):
        return dispatch.run_argv(ctx, command)
    script = options.command_text
    if script is None and not command and not interactive:
        script = sys.stdin.read()
    if script is not None:
        ctx.where = SCRIPT
    if script is not None and (parts := dispatch.split_words(script)) is not None:
        return dispatch.run_parts(ctx, parts)

    from herodev_shell.cli.shell import HerodevShell

    app = HerodevShell(ctx)  # at the prompt unless told otherwise below
    if command:
        ctx.where, renderer.in_shell = ONE_SHOT, False
    renderer._stdout = lambda: app.stdout
    if script is not None:
        return app.run_lines(script)
    if command:
        app.onecmd_plus_hooks(join_for_shell_line(command), add_to_history=False)
        return app.exit_code
    return _interactive(app)


def _pager(setting: str):  # type: ignore[no-untyped-def]
    """The renderer's way to page text, or None when paging is off (--no-pager, the setting,
    PAGER=cat)."""
    from herodev_shell.system import pager

    argv = pager.pager_command(setting)
    if argv is None:
        return None
    return lambda text: pager.page(argv, text)


def _interactive(app: object) -> int:
    from herodev_shell.cli.shell import HerodevShell

    assert isinstance(app, HerodevShell)
    app.cmdloop()
    return app.exit_code if isinstance(app.exit_code, int) else EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
