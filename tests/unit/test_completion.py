"""Completion data and the cmd2 wiring, in-process: sessions, repositories, sizes, options."""

from __future__ import annotations

from pathlib import Path

import pytest

from herodev_shell.cli import completion_data, completion_scripts, parsers
from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import Renderer
from herodev_shell.core.settings import Settings
from herodev_shell.system.runner import Runner


def _make_repo(root: Path, relative: str) -> None:
    (root / relative / ".git").mkdir(parents=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(code_root=tmp_path / "code", user_prefix="dev_")
    settings.sessions_dir.mkdir(parents=True)
    for name in ("alice", "bob", "carol"):
        (settings.sessions_dir / f"dev_{name}.json").write_text("{}")
    # Not sessions: other prefixes, the state file, snapshots without metadata.
    (settings.sessions_dir / "other_dave.json").write_text("{}")
    (settings.sessions_dir / "dev_erin").mkdir()
    _make_repo(settings.code_root, "github.com/acme/widget")
    _make_repo(settings.code_root, "github.com/acme/gadget")
    _make_repo(settings.code_root, "gitlab.com/team/sub/deep")
    _make_repo(settings.code_root, "github.com/acme/widget/vendor/nested")  # inside a repo: not listed
    (settings.code_root / ".hidden" / "x" / ".git").mkdir(parents=True)  # hidden: skipped
    _make_repo(settings.sessions_dir / "dev_alice", "github.com/acme/widget")
    _make_repo(settings.sessions_dir / "dev_alice", "github.com/acme/only-in-alice")
    return settings


def test_session_names_from_metadata(settings: Settings) -> None:
    assert completion_data.session_names(settings) == ["alice", "bob", "carol"]


def test_repo_paths_of_the_code_root_skip_sessions_hidden_and_nested(settings: Settings) -> None:
    assert completion_data.repo_paths(settings, max_age=0) == [
        "github.com/acme/gadget",
        "github.com/acme/widget",
        "gitlab.com/team/sub/deep",
    ]


def test_repo_paths_of_a_session_come_from_its_snapshot(settings: Settings) -> None:
    assert completion_data.repo_paths(settings, "alice", max_age=0) == [
        "github.com/acme/only-in-alice",
        "github.com/acme/widget",
    ]
    assert completion_data.repo_paths(settings, "nobody", max_age=0) == []


def test_repo_paths_are_cached_briefly(settings: Settings) -> None:
    first = completion_data.repo_paths(settings, "bob", max_age=60)
    _make_repo(settings.sessions_dir / "dev_bob", "github.com/acme/new")
    assert completion_data.repo_paths(settings, "bob", max_age=60) == first
    assert completion_data.repo_paths(settings, "bob", max_age=0) == ["github.com/acme/new"]


def test_command_names_include_aliases_and_help() -> None:
    names = completion_data.command_names()
    for name, spec in parsers.COMMANDS.items():
        assert name in names
        assert set(spec.aliases) <= set(names)
    assert "help" in names and "quit" in names


def test_main_filters_by_prefix(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(settings.code_root)
    assert completion_data.main(["sessions", "--code-root", root, "--", "b"]) == 0
    assert capsys.readouterr().out.split() == ["bob"]
    assert completion_data.main(["repos", "--code-root", root, "-s", "alice", "--", "github.com/acme/o"]) == 0
    assert capsys.readouterr().out.split() == ["github.com/acme/only-in-alice"]
    assert completion_data.main(["options", "use", "--c"]) == 0
    assert capsys.readouterr().out.split() == ["--clear"]
    assert completion_data.main(["sizes", "1"]) == 0
    assert all(word.startswith("1") for word in capsys.readouterr().out.split())
    assert completion_data.main([]) == 2


def test_unreadable_or_missing_sessions_dir_gives_nothing(tmp_path: Path) -> None:
    assert completion_data.session_names(Settings(code_root=tmp_path / "missing")) == []


# --- the cmd2 shell -------------------------------------------------------------------------


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    from herodev_shell.cli.shell import HerodevShell

    ctx = AppContext(settings, Runner(), Renderer())
    return HerodevShell(ctx)


def _complete(app, line: str) -> list[str]:  # type: ignore[no-untyped-def]
    begidx = line.rfind(" ") + 1
    return list(app.complete(line[begidx:], line, begidx, len(line)).to_strings())


def test_every_marked_argument_gets_a_choices_provider() -> None:
    from herodev_shell.cli.commands.base import build_parser

    marked = 0
    for name in parsers.COMMANDS:
        for action in build_parser(name)._actions:
            if parsers.completion_kind(action):
                marked += 1
                completes = action.get_choices_provider() or action.get_completer()  # type: ignore[attr-defined]
                assert completes is not None, (name, action.dest)
    assert marked >= 3


def test_shell_completes_sessions_repos_sizes_and_options(app) -> None:  # type: ignore[no-untyped-def]
    assert _complete(app, "use ") == ["alice", "bob", "carol"]
    assert _complete(app, "delete b") == ["bob"]
    assert _complete(app, "init --size 5") == ["50G", "500G"]
    assert "--clear" in _complete(app, "use --c")
    names = _complete(app, "us")
    assert names == ["use"]
    assert _complete(app, "diff -s alice github.com/acme/o") == ["github.com/acme/only-in-alice"]
    # Without -s: the session chosen by `use`.
    app.ctx.current_session = "alice"
    assert _complete(app, "diff github.com/acme/o") == ["github.com/acme/only-in-alice"]
    app.ctx.current_session = None
    assert _complete(app, "diff github.com/acme/o") == []


def test_script_model_matches_the_parsers() -> None:
    by_name = {c.name: c for c in completion_scripts.model()}
    for name, spec in parsers.COMMANDS.items():
        command = by_name[name]
        parser = parsers.build(name)
        for action in parser._actions:
            kind = parsers.completion_kind(action)
            if action.option_strings:
                assert set(action.option_strings) <= set(command.option_words)
                if kind:
                    assert f"{action.option_strings[0]}={kind}" in command.value_words
            elif kind:
                assert any(p.rstrip("*") == kind for p in command.positionals), (name, kind)
        for alias in spec.aliases:
            assert by_name[alias].option_words == command.option_words


def test_after_dashdash_the_shell_completes_a_command_then_files(app) -> None:  # type: ignore[no-untyped-def]
    assert "sleep" in _complete(app, "enter -- sle")  # the session in use runs it: no name here
    assert not {"alice", "bob"} & set(_complete(app, "enter -- "))
    assert "sleep" in _complete(app, "enter alice -- sle")
    assert _complete(app, "enter a") == ["alice"]
    assert "/etc/" in _complete(app, "enter alice -- ls /et")
    assert "sleep" in _complete(app, "exec bob -- sle")


def test_push_remote_completes_the_code_roots_remotes(app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    config = '[core]\n\tbare = false\n[remote "origin"]\n\turl = x\n[remote "upstream"]\n\turl = y\n'
    (settings.code_root / "github.com/acme/widget/.git/config").write_text(config)
    (settings.code_root / "github.com/acme/gadget/.git/config").write_text('[remote "fork"]\n\turl = z\n')
    assert _complete(app, "push --remote ") == ["fork", "origin", "upstream"]
    assert _complete(app, "push --remote u") == ["upstream"]
    assert completion_data.remote_names(settings, ["github.com/acme/gadget"]) == ["fork"]


def test_sizes_stay_in_size_order(app, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert _complete(app, "init --size ") == list(completion_data.SIZE_SUGGESTIONS)
    assert completion_data.main(["sizes"]) == 0
    assert capsys.readouterr().out.split() == ["10G", "20G", "50G", "100G", "200G", "500G", "1T"]


def test_zsh_and_fish_describe_options_and_keep_herodevs_order() -> None:
    zsh, fish, bash = (
        completion_scripts.zsh_script(),
        completion_scripts.fish_script(),
        completion_scripts.bash_script(),
    )
    assert "'--stat:a summary of changed files instead of the patches'" in zsh
    assert "_describe -t options" in zsh and "compadd -V" in zsh
    assert "printf '%s\\t%s\\n' '--stat' 'a summary of changed files instead of the patches'" in fish
    assert "complete -c herodev -f -k" in fish and "remotes" in fish
    assert "compopt -o nosort" in bash
