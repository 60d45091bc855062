"""Every command's arguments, defined once as plain argparse.

The shell builds its cmd2 parsers from these factories, and the bash/zsh/fish completion
scripts are generated from them too, so the two cannot drift. Importing this module is cheap
(no cmd2): the fast `__complete` path uses it.

Arguments that complete from live data are marked with `completes(action, KIND)`; the shell
attaches the matching choices provider, the completion scripts call `herodev __complete KIND`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

# Completion kinds (the word after `herodev __complete`).
SESSIONS = "sessions"
REPOS = "repos"
SIZES = "sizes"
REMOTES = "remotes"  # the remotes of the code root's repositories (push --remote)

SYSTEM, SESSIONS_CATEGORY, REPOSITORIES, CHANGES = "System", "Sessions", "Repositories", "Changes"
OPERATIONS = "Operations"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a mistyped word (`chnages` -> `changes`), if one is close."""
    import difflib

    found = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return found[0] if found else None


def usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """herodev's argparse error: one `error:` line naming the command, the usage as a hint, exit 2."""
    first = message.splitlines()[0] if message else "bad arguments"
    usage = " ".join(parser.format_usage().split())
    if usage.lower().startswith("usage:"):
        usage = usage[len("usage:") :].strip()
    hint = f"usage: {usage}"
    if first.startswith("unrecognized arguments:"):
        unknown = [w for w in first.partition(":")[2].split() if w.startswith("-")]
        guess = did_you_mean(unknown[0].partition("=")[0], parser._option_string_actions) if unknown else None
        if guess:
            hint = f"did you mean {guess}? {hint}"
    from herodev_shell.cli.messages import write_error

    write_error(sys.stderr, f"{parser.prog}: {first}", hint)
    raise SystemExit(2)


def completes(action: argparse.Action, kind: str) -> argparse.Action:
    action.herodev_completion = kind  # type: ignore[attr-defined]
    return action


def completion_kind(action: argparse.Action) -> str | None:
    return getattr(action, "herodev_completion", None)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")


def add_session_option(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument("-s", "--session", metavar="NAME", help="the session (default: the one chosen by 'use')"),
        SESSIONS,
    )


def _check(parser: argparse.ArgumentParser) -> None:
    add_json(parser)


def _init(parser: argparse.ArgumentParser) -> None:
    completes(parser.add_argument("--size", help="size of a new loopback image (default 50G)"), SIZES)
    parser.add_argument("--image", metavar="PATH", help="path of the loopback image")
    parser.add_argument("--no-packages", action="store_true", help="do not install missing packages")
    parser.add_argument("--reformat", action="store_true", help="format an image that already holds a filesystem")
    parser.add_argument(
        "--migrate", action="store_true", help="copy a non-empty code root's files into the new filesystem"
    )
    parser.add_argument(
        "--quotas",
        choices=("simple", "full", "off"),
        help="quota mode (default: simple where the kernel has it, else off; full slows snapshots)",
    )
    add_json(parser)


# --- sessions -------------------------------------------------------------------------------


def _session_name(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    help_text = "the session (default: the one chosen by 'use')" if optional else "the session's name"
    completes(parser.add_argument("name", metavar="NAME", nargs="?" if optional else None, help=help_text), SESSIONS)


def _create(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="1-28 characters of a-z, 0-9, '_' or '-', starting with a letter")
    completes(
        parser.add_argument("--quota", metavar="SIZE", help="cap the session's own disk use (e.g. 10G; btrfs quota)"),
        SIZES,
    )
    parser.add_argument(
        "--git-name", metavar="N", help="the session's git user.name (default: the author setting, else its user)"
    )
    parser.add_argument(
        "--git-email", metavar="E", help="the session's git user.email (default: the author setting, else user@host)"
    )
    _limit_options(parser, "(default: the HERODEV_MEMORY, HERODEV_CPUS, HERODEV_TASKS settings)")
    parser.add_argument("--no-setup", action="store_true", help="do not run the setup hooks")
    add_json(parser)


def _limit_options(parser: argparse.ArgumentParser, default: str) -> None:
    completes(
        parser.add_argument("--memory", metavar="SIZE", help=f"memory cap, e.g. 8G; 'none' lifts it {default}"),
        SIZES,
    )
    parser.add_argument("--cpus", metavar="N", help=f"CPUs' worth of time and weight, e.g. 2 or 0.5 {default}")
    parser.add_argument("--tasks", metavar="N", help=f"most processes and threads at once, e.g. 2000 {default}")


def _limit(parser: argparse.ArgumentParser) -> None:
    completes(parser.add_argument("name", metavar="NAME", nargs="?", help="the session"), SESSIONS)
    parser.add_argument("--fleet", action="store_true", help="the cap on all sessions together instead")
    _limit_options(parser, "(unchanged when not given)")
    add_json(parser)


def exec_options(parser: argparse.ArgumentParser) -> None:
    """exec's options; they may also come after NAME (before `--`): run_exec parses those."""
    parser.add_argument("--timeout", metavar="SECONDS", help="deadline (default: the HERODEV_EXEC_TIMEOUT setting)")
    parser.add_argument(
        "-C", "--cwd", metavar="DIR", help="run in DIR (relative to the code root as the session sees it)"
    )
    parser.add_argument(
        "-e", "--env", metavar="NAME=VALUE", action="append", default=None, help="add to CMD's environment (repeatable)"
    )
    parser.add_argument(
        "--no-stdin", action="store_true", help="CMD reads /dev/null even when herodev's stdin is a pipe or file"
    )
    add_json(parser)
    add_dry_run(parser)


def _exec(parser: argparse.ArgumentParser) -> None:
    exec_options(parser)
    _session_name(parser)
    parser.add_argument(
        "command", metavar="-- CMD ARGS", nargs=argparse.REMAINDER, help="the command and its arguments"
    )


def _setup(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    add_json(parser)


def _list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--usage", action="store_true", help="memory, CPU time and tasks of each session now")
    add_json(parser)


def _use(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    parser.add_argument("--clear", action="store_true", help="forget the current session")


def _info(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    add_session_option(parser)  # `info -s NAME` as the other session commands spell it
    add_json(parser)


def _enter(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    parser.add_argument(
        "command", metavar="-- CMD ARGS", nargs=argparse.REMAINDER, help="run CMD instead of a login shell"
    )


def _delete(parser: argparse.ArgumentParser) -> None:
    _session_name(parser)
    parser.add_argument(
        "-f", "--force", action="store_true", help="end its processes and throw its changes away without asking"
    )
    add_json(parser)


def _checkpoint(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    parser.add_argument("id", metavar="ID", nargs="?", help="with --delete: the checkpoint to delete")
    parser.add_argument("-m", "--message", metavar="LABEL", default="", help="a label for the checkpoint")
    parser.add_argument("--delete", action="store_true", help="delete checkpoint ID instead of taking one")
    add_json(parser)


def _checkpoints(parser: argparse.ArgumentParser) -> None:
    _session_name(parser, optional=True)
    add_json(parser)


def _rewind(parser: argparse.ArgumentParser) -> None:
    _session_name(parser)
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="the checkpoint's id ('checkpoints NAME')")
    parser.add_argument(
        "-f", "--force", action="store_true", help="end the session's processes first (its state is checkpointed)"
    )
    add_json(parser)


def _fork(parser: argparse.ArgumentParser) -> None:
    _session_name(parser)
    parser.add_argument("new", metavar="NEW", help="the new session's name")
    parser.add_argument("--from", dest="checkpoint", metavar="CHECKPOINT", help="start from this checkpoint of NAME")
    parser.add_argument("--no-setup", action="store_true", help="do not run the setup hooks")
    add_json(parser)


def _mcp(parser: argparse.ArgumentParser) -> None:
    """No arguments: an MCP client starts it and speaks the protocol on its stdin and stdout."""


def _menu(parser: argparse.ArgumentParser) -> None:
    """No arguments: the menu asks for everything."""


# --- operations (disk, audit log, repair, prune, pull) ---------------------------------------


LOG_DEFAULT_LAST = 20


def _log(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--last", type=int, metavar="N", help=f"only the last N entries (default {LOG_DEFAULT_LAST}; --json: all)"
    )
    which.add_argument("--all", action="store_true", help="every entry")
    add_json(parser)


def _df(parser: argparse.ArgumentParser) -> None:
    add_json(parser)


def _repair(parser: argparse.ArgumentParser) -> None:
    add_json(parser)


def _prune(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than", metavar="AGE", default="7d", help="idle for at least AGE (s, m, h, d, w; default 7d)"
    )
    add_json(parser)


def _pull(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    completes(parser.add_argument("repos", metavar="REPO", nargs="*", help="only these repositories"), REPOS)
    add_json(parser)


# --- repositories and changes ---------------------------------------------------------------


def _repo_args(parser: argparse.ArgumentParser, help_text: str) -> None:
    completes(parser.add_argument("repos", metavar="REPO", nargs="*", help=help_text), REPOS)


def _repos(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    add_json(parser)


def _reorganize(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    add_json(parser)


def _changes(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    parser.add_argument(
        "--full", action="store_true", help="inspect every repository instead of following the btrfs change stream"
    )
    parser.add_argument("--all", action="store_true", help="list unchanged repositories too")
    _range(parser)
    add_json(parser)


def _range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", metavar="CHECKPOINT", help="compare from this checkpoint, not the base")
    parser.add_argument("--to", dest="end", metavar="CHECKPOINT", help="compare up to this checkpoint (not now)")


def _diff(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    _repo_args(parser, "repositories to show (default: every changed one); paths relative to the code root")
    parser.add_argument("--stat", action="store_true", help="a summary of changed files instead of the patches")
    _range(parser)
    add_json(parser)


def _commit(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    parser.add_argument("-m", "--message", metavar="MSG", required=True, help="the commit message")
    _repo_args(parser, "repositories to commit in (default: every changed one)")
    add_json(parser)


def _push(parser: argparse.ArgumentParser) -> None:
    add_session_option(parser)
    parser.add_argument("-m", "--message", metavar="MSG", help="commit all changes with MSG first")
    completes(
        parser.add_argument(
            "--remote",
            metavar="REMOTE",
            help="push to this remote of the code root's repository, or this URL (needed for a repository "
            "that exists only in the session)",
        ),
        REMOTES,
    )
    _repo_args(parser, "repositories to push (default: every one with unpushed commits)")
    parser.add_argument(
        "-n", "--dry-run", action="store_true", help="show the plan (what goes where), commit and push nothing"
    )
    add_json(parser)


@dataclass(frozen=True)
class CommandSpec:
    """Everything about one command; the parsers, handlers, help, completion and audit derive from it.

    handler: "module:function" under herodev_shell.cli.commands, imported only when the command runs
    (start-up time); None for a command only the interactive shell has (its cmd2 command set).
    changes: the command changes something, so every run of it gets an audit line.
    session_arg: the parsed argument naming the session it acts on ("name" for a positional NAME,
    "session" for -s NAME; the session chosen by `use` when it is left out); None when it acts on
    no session. Completion markers sit on the arguments themselves: `completes(action, KIND)`.
    """

    category: str
    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: str | None
    aliases: tuple[str, ...] = ()
    changes: bool = False
    session_arg: str | None = None
    # Output held for the pager when long; False for commands that hand the terminal to
    # someone else, ask along the way, or stream what they run (enter, exec, init, menu...).
    pages: bool = True
    # -n/--dry-run of its own; None: whenever it changes something. Commands that change
    # nothing the audit counts (limit, exec, setup) still honour a dry run and take -n too.
    dry_run: bool | None = None
    # A command that changes something only when given what to change (`limit NAME` alone
    # shows the limits): true for such a run, which then gets no audit line.
    only_shows: Callable[[argparse.Namespace], bool] | None = None

    @property
    def takes_dry_run(self) -> bool:
        return self.changes if self.dry_run is None else self.dry_run


_NAME, _OPT = "name", "session"

COMMANDS: dict[str, CommandSpec] = {
    "check": CommandSpec(SYSTEM, "check that this host can run herodev", _check, "system_cmds:run_check"),
    "init": CommandSpec(
        SYSTEM,
        "prepare this host: packages, btrfs code root, sessions dir",
        _init,
        "system_cmds:run_init",
        changes=True,
        pages=False,
    ),
    "create": CommandSpec(
        SESSIONS_CATEGORY,
        "create a session: a user and a snapshot of the code root",
        _create,
        "session_cmds:run_create",
        changes=True,
        session_arg=_NAME,
        pages=False,
    ),
    "list": CommandSpec(SESSIONS_CATEGORY, "list the sessions", _list, "session_cmds:run_list", aliases=("sessions",)),
    "use": CommandSpec(
        SESSIONS_CATEGORY,
        "choose the shell's current session (prompt shows it)",
        _use,
        "session_cmds:run_use",
        session_arg=_NAME,
    ),
    "info": CommandSpec(SESSIONS_CATEGORY, "one session in detail", _info, "session_cmds:run_info", session_arg=_NAME),
    "enter": CommandSpec(
        SESSIONS_CATEGORY,
        "a login shell (or CMD) as the session's user, in its snapshot",
        _enter,
        "session_cmds:run_enter",
        changes=True,
        session_arg=_NAME,
        pages=False,
    ),
    "delete": CommandSpec(
        SESSIONS_CATEGORY,
        "remove a session: its snapshot, base and user",
        _delete,
        "session_cmds:run_delete",
        changes=True,
        session_arg=_NAME,
    ),
    "checkpoint": CommandSpec(
        SESSIONS_CATEGORY,
        "a read-only checkpoint of a session (or --delete one), outside its reach",
        _checkpoint,
        "checkpoint_cmds:run_checkpoint",
        changes=True,
        session_arg=_NAME,
    ),
    "checkpoints": CommandSpec(
        SESSIONS_CATEGORY,
        "a session's checkpoints: id, label, created, size",
        _checkpoints,
        "checkpoint_cmds:run_checkpoints",
        session_arg=_NAME,
    ),
    "rewind": CommandSpec(
        SESSIONS_CATEGORY,
        "take a session back to a checkpoint (its state is kept first)",
        _rewind,
        "checkpoint_cmds:run_rewind",
        changes=True,
        session_arg=_NAME,
        pages=False,
    ),
    "fork": CommandSpec(
        SESSIONS_CATEGORY,
        "a new session starting from a session's state or checkpoint",
        _fork,
        "checkpoint_cmds:run_fork",
        changes=True,
        session_arg=_NAME,
        pages=False,
    ),
    "limit": CommandSpec(
        SESSIONS_CATEGORY,
        "change a session's memory, CPU and task limits",
        _limit,
        "agent_cmds:run_limit",
        changes=True,
        session_arg=_NAME,
        dry_run=True,
        only_shows=lambda args: all(getattr(args, key, None) is None for key in ("memory", "cpus", "tasks")),
    ),
    "exec": CommandSpec(
        SESSIONS_CATEGORY,
        "run CMD in a session without a terminal: status, stdout, stderr",
        _exec,
        "agent_cmds:run_exec",
        changes=True,
        session_arg=_NAME,
        pages=False,
        dry_run=True,
    ),
    "setup": CommandSpec(
        SESSIONS_CATEGORY,
        "run the session's setup hooks (.herodev/setup) again",
        _setup,
        "agent_cmds:run_setup",
        changes=True,
        session_arg=_NAME,
        pages=False,
        dry_run=True,
    ),
    "mcp": CommandSpec(
        SESSIONS_CATEGORY,
        "a Model Context Protocol server on stdio: the same operations as tools (each call audited)",
        _mcp,
        "checkpoint_cmds:run_mcp",
        pages=False,
    ),
    "menu": CommandSpec(
        SESSIONS_CATEGORY, "menu-driven: pick a session (or create one), then an action", _menu, None, pages=False
    ),
    "df": CommandSpec(OPERATIONS, "disk space of the code root and what each session holds", _df, "ops_cmds:run_df"),
    "log": CommandSpec(
        OPERATIONS,
        "the audit log: who changed what, when, and how it ended",
        _log,
        "ops_cmds:run_log",
        session_arg=_OPT,
    ),
    "repair": CommandSpec(
        OPERATIONS,
        "fix what a crash left: half-made sessions, stale snapshots and mounts",
        _repair,
        "ops_cmds:run_repair",
        changes=True,
    ),
    "prune": CommandSpec(
        OPERATIONS,
        "delete sessions idle for a while that hold no work",
        _prune,
        "ops_cmds:run_prune",
        changes=True,
    ),
    "pull": CommandSpec(
        OPERATIONS,
        "fetch and fast-forward the code root's repositories",
        _pull,
        "ops_cmds:run_pull",
        changes=True,
        session_arg=_OPT,
    ),
    "repos": CommandSpec(
        REPOSITORIES,
        "git repositories under the code root (or in a session)",
        _repos,
        "repo_cmds:run_repos",
        session_arg=_OPT,
    ),
    "reorganize": CommandSpec(
        REPOSITORIES,
        "move repositories to <server>/<org>/<repo> by remote URL",
        _reorganize,
        "repo_cmds:run_reorganize",
        changes=True,
        session_arg=_OPT,
    ),
    "changes": CommandSpec(
        CHANGES,
        "repositories with uncommitted changes or unpushed commits",
        _changes,
        "change_cmds:run_changes",
        session_arg=_OPT,
    ),
    "diff": CommandSpec(
        CHANGES,
        "the changes themselves: staged, unstaged, unpushed commits",
        _diff,
        "change_cmds:run_diff",
        session_arg=_OPT,
    ),
    "commit": CommandSpec(
        CHANGES,
        "commit all changes in the changed (or named) repositories",
        _commit,
        "change_cmds:run_commit",
        changes=True,
        session_arg=_OPT,
    ),
    "push": CommandSpec(
        CHANGES,
        "push each repository's current branch to the code root's remote",
        _push,
        "change_cmds:run_push",
        changes=True,
        session_arg=_OPT,
    ),
}


def canonical(name: str) -> str | None:
    """The command a name or alias stands for (`sessions` -> `list`), None when unknown."""
    if name in COMMANDS:
        return name
    for command, spec in COMMANDS.items():
        if name in spec.aliases:
            return command
    return None


def session_of(spec: CommandSpec, args: argparse.Namespace | None, current: str | None) -> str | None:
    """The session a parsed command acts on (its audit line's session); None when it acts on none.

    args is None when parsing failed (a usage error): then only the session in use is known.
    """
    if spec.session_arg is None:
        return None
    named = getattr(args, spec.session_arg, None) if args is not None else None
    return named if isinstance(named, str) and named else current


def build(name: str, parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    spec = COMMANDS[name]
    parser = parser_class(prog=name, description=spec.summary)
    spec.add_arguments(parser)
    if spec.takes_dry_run:
        add_dry_run(parser)
    return parser


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    """-n/--dry-run on every command that changes something (the global -n for one command):
    dispatch runs it with a dry runner, and its audit line is skipped like the global -n's."""
    if "--dry-run" not in parser._option_string_actions:
        strings = ["--dry-run"] if "-n" in parser._option_string_actions else ["-n", "--dry-run"]
        parser.add_argument(*strings, action="store_true", help="say what would change, change nothing")
