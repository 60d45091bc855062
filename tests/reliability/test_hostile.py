"""Hostile input, property-based: session names, remote URLs, `-c` strings, config files.

The promise: never a traceback, and a refused input changes nothing. Core functions are
driven in-process with many examples; the real binary with a few (each run is a process).
"""

from __future__ import annotations

import io
import os
import posixpath
import pwd
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from herodev_shell.core.names import name_problem
from herodev_shell.core.remote_url import parse_remote
from herodev_shell.core.settings import load_settings
from herodev_shell.errors import HerodevError, UsageError
from tests.conftest import HerodevEnv

pytestmark = pytest.mark.system

NAME_RE_CHARS = string.ascii_lowercase + string.digits + "_-"
HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(list(NAME_RE_CHARS + "ABZ./ $;&|`'\"\\()*?~!#%\n\t\0é😀" + "\u202e")), max_size=40
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def world_state(world: HerodevEnv) -> tuple[list[str], list[str], list[str]]:
    """What a refused command must not change: sessions dir, session users, code root top."""
    users = sorted(e.pw_name for e in pwd.getpwall() if e.pw_name.startswith(world.prefix))
    return (
        sorted(os.listdir(world.sessions_dir)),
        users,
        sorted(os.listdir(world.code_root)),
    )


# --- session names ----------------------------------------------------------------------------


@FAST
@example(name="a\n")
@given(name=st.one_of(HOSTILE_TEXT, st.text(max_size=60)))
def test_name_rule_never_crashes_and_only_admits_safe_names(name: str, tally) -> None:
    tally.hostile()
    problem = name_problem(name, 28)
    if problem is None:
        assert 1 <= len(name) <= 28 and name[0] in string.ascii_lowercase
        assert set(name) <= set(NAME_RE_CHARS)
    else:
        assert isinstance(problem, str) and "\n" not in problem


@SLOW
@example(name="a\n")  # found by this suite: passed the "$" anchor and ran as create 'a'
@example(name="a\nlist")
@given(name=HOSTILE_TEXT.filter(lambda n: name_problem(n, 28) is not None and "\0" not in n and n.strip()))
def test_create_refuses_bad_names_and_changes_nothing(rworld: HerodevEnv, tally, name: str) -> None:
    tally.hostile()
    before = world_state(rworld)
    result = rworld.run("-f", "create", "--", name) if name.startswith("-") else rworld.run("-f", "create", name)
    assert result.returncode == 2, (name, result.stderr)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert world_state(rworld) == before


# --- remote URLs ------------------------------------------------------------------------------

URL_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "ssh://",
        "git://",
        "file://",
        "git@",
        "user@",
        "host",
        "github.com",
        ":",
        "/",
        "//",
        "..",
        ".",
        "~",
        "org",
        "repo.git",
        "%2e%2e",
        "[::1]",
        ":22",
        "@",
        "\\",
        " ",
        "\0",
        "\n",
        "a:b",
        "?x=1",
        "#f",
    ]
)


@FAST
@example(url="\x00https://https://")  # found by this suite: a path with a NUL
@example(url="git@..:22")  # found by this suite: mapped to ../22, outside the code root
@given(url=st.one_of(st.lists(URL_PIECES, max_size=10).map("".join), st.text(max_size=80)))
def test_remote_url_never_escapes_the_code_root(url: str, tally) -> None:
    tally.hostile()
    location = parse_remote(url)
    if location is None:
        return
    relative = location.relative_path
    assert "\0" not in relative
    assert not relative.startswith("/")
    parts = relative.split("/")
    assert ".." not in parts and "." not in parts and "" not in parts, relative
    assert posixpath.normpath(relative) == relative


# --- -c strings -------------------------------------------------------------------------------

C_WORDS = st.sampled_from(
    [
        "use",
        "list",
        "info",
        "changes",
        "diff",
        "log",
        "df",
        "help",
        "nosuch",
        "create",
        "delete",
        "-s",
        "--json",
        "-f",
        "--",
        ";",
        ";;",
        "'",
        '"',
        "\\",
        "|",
        ">",
        "<",
        "&&",
        "$(id)",
        "`id`",
        "*",
        "#",
        "\n",
        "x" * 300,
        "é",
    ]
)


@FAST
@given(text=st.one_of(st.lists(C_WORDS, max_size=8).map(" ".join), HOSTILE_TEXT))
def test_command_text_in_process_never_tracebacks(rworld: HerodevEnv, tally, text: str) -> None:
    """The shell itself, in-process: any text gives an exit code and one-line errors."""
    from herodev_shell.cli.context import AppContext
    from herodev_shell.cli.render import Renderer
    from herodev_shell.cli.shell import HerodevShell
    from herodev_shell.system.runner import Runner

    if any(word in text.split() for word in ("create", "delete")):
        text = text.replace("create", "info").replace("delete", "info")  # in-process, refusals only
    tally.hostile()
    before = world_state(rworld)
    out, err = io.StringIO(), io.StringIO()
    settings_ = load_settings(environ=rworld.env())
    ctx = AppContext(settings_, Runner(), Renderer(stdout=lambda: out, stderr=err), interactive=False)
    app = HerodevShell(ctx, stdout=out)
    import contextlib

    with contextlib.redirect_stderr(err):
        code = app.run_lines(text)
    assert code in (0, 1, 2), (text, code, err.getvalue())
    assert "Traceback" not in err.getvalue() + out.getvalue()
    assert "internal error" not in err.getvalue(), (text, err.getvalue())
    assert world_state(rworld) == before


@SLOW
@given(text=st.lists(C_WORDS, min_size=1, max_size=6).map(" ".join))
def test_dash_c_through_the_binary(rworld: HerodevEnv, tally, text: str) -> None:
    text = text.replace("create", "info").replace("delete", "info")
    tally.hostile()
    before = world_state(rworld)
    result = rworld.run("-c", text)
    assert result.returncode in (0, 1, 2), (text, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert world_state(rworld) == before


# --- config files -----------------------------------------------------------------------------

KEYS = st.sampled_from(["code_root", "image", "image_size", "fstab", "user_prefix", "audit_log", "nosuch", "x y"])
VALUES = st.one_of(
    st.text(max_size=30).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    st.integers().map(str),
    st.sampled_from(["true", "[1, 2]", "{a = 1}", '"""x"""', "'lit'", '"50G"', '"0"', '"-1G"', '"dev_"', '"ROOT"']),
)
TOML = st.one_of(
    st.lists(st.tuples(KEYS, VALUES), max_size=6).map(lambda kv: "\n".join(f"{k} = {v}" for k, v in kv)),
    st.text(max_size=200),
)


@FAST
@given(text=TOML)
def test_config_files_load_or_refuse_cleanly(text: str, tally) -> None:
    tally.hostile()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        try:
            path.write_text(text)
        except (UnicodeEncodeError, ValueError):
            return
        try:
            loaded = load_settings(environ={}, config_file=path)
        except UsageError as error:
            assert error.message
            return
        except HerodevError:
            return
        assert loaded.user_prefix and loaded.code_root.is_absolute()


@SLOW
@given(text=TOML)
def test_config_file_through_the_binary(rworld: HerodevEnv, tally, text: str) -> None:
    tally.hostile()
    try:
        rworld.config.write_text(text)
    except (UnicodeEncodeError, ValueError):
        return
    try:
        before = world_state(rworld)
        result = rworld.run("list")
        assert result.returncode in (0, 1, 2), result.stderr
        assert "Traceback" not in result.stderr
        assert world_state(rworld) == before
    finally:
        rworld.config.write_text("")
