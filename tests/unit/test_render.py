"""The output policy: golden tables at 80 and 200 columns, TSV in a pipe, JSON, sanitizing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from herodev_shell.cli.render import Renderer, short_time, wants_color
from herodev_shell.cli.tables import shorten_middle

GOLDEN = Path(__file__).parent / "golden"


def _golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


CHANGES = [("path", "path"), ("branch", "branch"), ("staged", "staged"), ("modified", "modified")]
CHANGES += [("deleted", "deleted"), ("untracked", "untracked"), ("ahead", "ahead"), ("behind", "behind")]
CHANGE_ROWS = [
    {"path": "github.com/pallets/flask", "branch": "main", "staged": 0, "modified": 3, "deleted": 0},
    {"path": "github.com/psf/requests", "branch": "main", "staged": 0, "modified": 0, "deleted": 0},
    {
        "path": "gitlab.example.org/platform-team/infrastructure/deployment-scripts",
        "branch": "feature/rotate-all-the-credentials",
        "staged": 2,
        "modified": 1,
        "deleted": 0,
    },
]
for _row, (_untracked, _ahead) in zip(CHANGE_ROWS, [(1, 2), (0, 1), (0, 0)], strict=True):
    _row.update(untracked=_untracked, ahead=_ahead, behind=0)

PUSH = [("path", "path"), ("action", "action"), ("status", "status"), ("branch", "branch")]
PUSH += [("remote", "remote"), ("commit", "commit"), ("detail", "detail")]
PUSH_ROWS = [
    {
        "path": "github.com/pallets/flask",
        "action": "push",
        "status": "failed",
        "branch": "main",
        "remote": "https://github.com/pallets/flask.git",
        "commit": "",
        "detail": "! [rejected] main -> main (fetch first); hint: Updates were rejected because the remote "
        "contains work that you do not have locally",
    },
    {
        "path": "github.com/psf/requests",
        "action": "push",
        "status": "done",
        "branch": "main",
        "remote": "git@github.com:psf/requests.git",
        "commit": "0123456789ab",
        "detail": "",
    },
]

GOLDEN_CHANGES_80 = _golden("changes_80.txt")
GOLDEN_CHANGES_200 = _golden("changes_200.txt")
GOLDEN_PUSH_80 = _golden("push_80.txt")
GOLDEN_CHANGES_PIPE = _golden("changes_pipe.tsv")


def _draw(rows, columns, width: int | None = None, tty: bool = True, color: bool = False) -> str:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    Renderer(stdout=lambda: out, tty=tty, width=width, color=color).table(rows, columns, status_key="status")
    return out.getvalue()


@pytest.mark.parametrize(
    ("rows", "columns", "width", "golden"),
    [
        (CHANGE_ROWS, CHANGES, 80, GOLDEN_CHANGES_80),
        (CHANGE_ROWS, CHANGES, 200, GOLDEN_CHANGES_200),
        (PUSH_ROWS, PUSH, 80, GOLDEN_PUSH_80),
    ],
)
def test_terminal_tables_golden(rows, columns, width, golden) -> None:  # type: ignore[no-untyped-def]
    text = _draw(rows, columns, width)
    assert text == golden
    for line in text.splitlines():
        assert len(line) <= width and line == line.rstrip(), line


def test_terminal_keeps_headers_and_path_ends_and_drops_empty_columns() -> None:
    for width in (60, 80, 120):
        lines = _draw(CHANGE_ROWS, CHANGES, width).splitlines()
        header = lines[0].split()
        # deleted and behind are 0 in every row: dropped; every other header whole
        assert header == ["path", "branch", "staged", "modified", "untracked", "ahead"]
        for row, line in zip(CHANGE_ROWS, lines[2:], strict=True):
            shown = line.split()[0]
            assert row["path"].endswith(shown.lstrip("…").rsplit("…", 1)[-1]), line  # only the middle goes
            if width >= 80:  # the repository's own name is never cut
                assert shown.endswith(row["path"].rsplit("/", 1)[1]), line


def test_pipe_is_tsv_one_record_per_line_every_path_whole() -> None:
    text = _draw(CHANGE_ROWS, CHANGES, width=20, tty=False)
    assert text == GOLDEN_CHANGES_PIPE
    for row in CHANGE_ROWS:
        found = [line for line in text.splitlines() if row["path"] in line]  # what `| grep` sees
        assert len(found) == 1 and found[0].split("\t")[0] == row["path"]
    assert "─" not in text and " \n" not in text and "…" not in text


def test_pipe_push_keeps_every_column_and_the_whole_detail() -> None:
    lines = _draw(PUSH_ROWS, PUSH, tty=False).splitlines()
    assert lines[0].split("\t") == [header for _, header in PUSH]
    assert all(len(line.split("\t")) == len(PUSH) for line in lines)
    assert lines[1].split("\t")[6] == PUSH_ROWS[0]["detail"]


def test_colour_only_styles_text_never_padding() -> None:
    text = _draw(PUSH_ROWS, PUSH, 200, color=True)
    assert "\x1b[1;31mfailed\x1b[0m" in text and "\x1b[32mdone\x1b[0m" in text
    assert all(not line.endswith(" ") for line in text.splitlines())


def test_hostile_cells_cannot_forge_rows_or_send_escapes() -> None:
    rows = [{"path": "a\nb\tforged\x1b]0;owned\x07\r\x9b31m\u202eevil", "status": "ok"}]
    for tty in (True, False):
        text = _draw(rows, [("path", "path"), ("status", "status")], 80, tty=tty)
        assert len(text.splitlines()) == (3 if tty else 2)
        for bad in ("\x1b", "\r", "\x07", "\x9b", "\u202e"):
            assert bad not in text
        assert "a\\nb\\tforged\\e]0;owned\\x07\\r\\x9b31m\\u202eevil" in text


def test_messages_notes_and_errors_are_made_visible() -> None:
    out, err = io.StringIO(), io.StringIO()
    renderer = Renderer(stdout=lambda: out, stderr=err)
    renderer.message("repo\x1b[2J\nerror: forged")
    renderer.note("note\r\x1b[1A")
    from herodev_shell.errors import HerodevError

    renderer.error(HerodevError("bad\nerror: second", hint="x\x1by"))
    assert out.getvalue() == "repo\\e[2J\\nerror: forged\n"
    assert err.getvalue().splitlines() == ["note\\r\\e[1A", "error: bad\\nerror: second", "hint: x\\ey"]


def test_shorten_middle_keeps_the_end() -> None:
    assert shorten_middle("github.com/pallets/flask", 18) == "github.com/…/flask"
    assert shorten_middle("github.com/pallets/flask", 40) == "github.com/pallets/flask"
    assert shorten_middle("averyveryverylongname", 8) == "…ongname"


def test_one_time_format() -> None:
    assert short_time("2026-11-27T04:56:28Z") == "2026-11-27 04:56:28"
    assert short_time("yesterday") == "yesterday"


def test_empty_table_says_so_on_stderr() -> None:
    out, err = io.StringIO(), io.StringIO()
    Renderer(stdout=lambda: out, stderr=err).table([], CHANGES, empty="no changes")
    assert out.getvalue() == "" and err.getvalue() == "no changes\n"


def test_json_mode_writes_one_ascii_document() -> None:
    out = io.StringIO()
    rows = [{"path": "x\x1b[31m\u202e"}]
    Renderer(stdout=lambda: out, json_mode=True).records(rows, rows, CHANGES)
    assert json.loads(out.getvalue()) == rows
    assert out.getvalue().isascii()


def test_color_policy() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_color(Tty(), False, {"TERM": "xterm"})
    assert not wants_color(Tty(), True, {"TERM": "xterm"})
    assert not wants_color(Tty(), False, {"TERM": "xterm", "NO_COLOR": ""})
    assert not wants_color(Tty(), False, {"TERM": "dumb"})
    assert not wants_color(io.StringIO(), False, {"TERM": "xterm"})
    # NO_COLOR alone does not make a terminal a pipe: the table is still a table
    renderer = Renderer(stdout=lambda: Tty(), color=False, width=80)
    assert renderer.is_tty()


def test_diff_stat_records_parse_whole_and_render_at_the_width() -> None:
    from herodev_shell.cli.commands.change_cmds import _print_stat, stat_rows

    text = '3\t1\t"src/a.py"\n-\t-\t"logo.png"\n' + '1\t0\t"weird\\tname\\nerror: forged"\n'
    rows = stat_rows(text + "\n... truncated ...")
    assert rows == [
        {"path": "src/a.py", "added": 3, "deleted": 1},
        {"path": "logo.png", "added": None, "deleted": None},
        {"path": "weird\tname\nerror: forged", "added": 1, "deleted": 0},
    ]
    out = io.StringIO()
    _print_stat(Renderer(stdout=lambda: out, tty=True, width=30), "staged", text)
    lines = out.getvalue().splitlines()
    assert lines[0] == "# staged" and lines[1].split() == ["file", "added", "deleted"]
    assert all(len(line) <= 30 for line in lines[:-1]) and not any(line.startswith("error:") for line in lines)
    assert lines[-1] == "3 file(s) changed, 4 insertion(s)(+), 1 deletion(s)(-)"


def test_info_labels_read_as_words() -> None:
    from herodev_shell.cli.commands.session_cmds import _label

    assert _label("base_generation") == "base generation"
    assert _label("code_owner_uid") == "code owner uid"
    assert _label("name") == "session" and _label("created") == "created (UTC)"


def test_changes_other_column_wraps_at_words_under_its_row_on_a_terminal() -> None:
    """What else a repository has is the table's last column: beside the row when it fits, else
    under it, wrapped at words within the width (it was a line after the table that an
    80-column terminal folded mid-word); in a pipe the same column keeps the record whole."""
    from herodev_shell.cli.commands.change_cmds import CHANGE_COLUMNS, _change_row
    from herodev_shell.core.changes import RepoChange

    change = RepoChange(
        "github.com/python/py-xml",
        "/r",
        "main",
        "origin/main",
        ahead=1,
        commits=1,
        branches=("main",),
        remote_changed=("origin: /var/tmp/somewhere/else/entirely.git",),
    )
    for width in (80, 200):
        out = io.StringIO()
        Renderer(stdout=lambda out=out: out, tty=True, width=width).table([_change_row(change)], CHANGE_COLUMNS)
        lines = out.getvalue().splitlines()
        assert all(len(line) <= width for line in lines), lines
        words = " ".join(line.strip() for line in lines[2:]).split()
        assert "rewritten" in words and "origin:" in words and "/var/tmp/somewhere/else/entirely.git" in words
    piped = io.StringIO()
    Renderer(stdout=lambda: piped, tty=False).table([_change_row(change)], CHANGE_COLUMNS)
    assert len(piped.getvalue().splitlines()) == 2
