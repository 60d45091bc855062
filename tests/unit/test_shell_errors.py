"""The one place errors become exit codes: nothing a command does ends the shell."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from herodev_shell.cli.context import AppContext
from herodev_shell.cli.render import Renderer
from herodev_shell.core import layout
from herodev_shell.core.settings import Settings
from herodev_shell.system.runner import Runner


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    from herodev_shell.cli.shell import HerodevShell

    settings = Settings(code_root=tmp_path)
    settings.sessions_dir.mkdir()
    (settings.sessions_dir / "dev_alice.json").write_text("{}")
    stderr = io.StringIO()
    ctx = AppContext(settings, Runner(), Renderer(stderr=stderr))
    shell = HerodevShell(ctx, stdout=io.StringIO())
    shell.captured_stderr = stderr  # type: ignore[attr-defined]
    return shell


def _run(app, line: str) -> bool:  # type: ignore[no-untyped-def]
    return app.onecmd_plus_hooks(line, add_to_history=False)


def test_system_exit_in_a_command_sets_the_code_and_keeps_the_loop(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(settings: Settings) -> list[str]:
        raise SystemExit(5)

    monkeypatch.setattr(layout, "session_names", boom)
    assert _run(app, "use alice") is False
    assert app.exit_code == 5
    monkeypatch.undo()
    assert _run(app, "use alice") is False and app.exit_code == 0


def test_an_unexpected_exception_is_an_internal_error_with_exit_1(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(settings: Settings) -> list[str]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(layout, "session_names", boom)
    assert _run(app, "use alice") is False
    assert app.exit_code == 1
    err = app.captured_stderr.getvalue()
    assert "error: internal error: RuntimeError: disk on fire" in err
    assert "Traceback" not in err


def test_usage_help_and_unknown(app) -> None:  # type: ignore[no-untyped-def]
    _run(app, "use --bogus")
    assert app.exit_code == 2
    _run(app, "use -h")
    assert app.exit_code == 0
    _run(app, "frobnicate")
    assert app.exit_code == 2
    _run(app, "help frobnicate")
    assert app.exit_code == 2
    assert "error: no command named 'frobnicate'" in app.captured_stderr.getvalue()
    _run(app, "history -o /tmp/herodev-history-out")
    assert app.exit_code == 2 and not Path("/tmp/herodev-history-out").exists()
    _run(app, "history -e")
    assert app.exit_code == 2
    _run(app, "history")
    assert app.exit_code == 0
    assert _run(app, "quit") is True and app.exit_code == 0


def test_run_lines_stops_at_the_first_failure(app) -> None:  # type: ignore[no-untyped-def]
    assert app.run_lines("use alice\nuse nobody\nuse --clear") == 1
    assert app.ctx.current_session == "alice"
    assert app.run_lines("use --clear; use alice # comment") == 0
    assert app.ctx.current_session == "alice"


def test_a_question_without_a_terminal_fails_with_a_hint(tmp_path: Path) -> None:
    from herodev_shell.errors import HerodevError

    ctx = AppContext(Settings(code_root=tmp_path), Runner(), Renderer(), interactive=False)
    with pytest.raises(HerodevError) as caught:
        ctx.confirm("Install git with apt-get?")
    assert caught.value.hint is not None and "-f" in caught.value.hint
    forced = AppContext(Settings(code_root=tmp_path), Runner(), Renderer(), force=True, interactive=False)
    assert forced.confirm("Install git with apt-get?") is True
