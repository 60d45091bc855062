"""Tables for people: 80 columns without a terminal, nothing cropped, short values whole."""

from __future__ import annotations

import io
import json

from herodev_shell.cli.render import Renderer, wants_color

COLUMNS = [("name", "session"), ("user", "user"), ("created", "created"), ("state", "state"), ("disk", "own disk")]
ROWS = [
    {"name": "alice", "user": "dev_alice", "created": "2026-11-27 04:56", "state": "ok", "disk": "16.0K"},
    {
        "name": "a-very-long-session-name-x",
        "user": "dev_a-very-long-session-name-x",
        "created": "2026-11-27 04:57",
        "state": "half there",
        "disk": "1.5G",
    },
]


def _render(rows: list[dict[str, str]], monkeypatch, columns: int = 80) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    Renderer(stdout=lambda: out, color=False).table(rows, COLUMNS)
    return out.getvalue()


def test_plain_table_fits_80_columns_and_crops_nothing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = _render(ROWS, monkeypatch)
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "\x1b" not in text
    assert "…" not in text
    # short values and the last column stay whole on one line even when long names fold
    for whole in ("2026-11-27 04:56", "2026-11-27 04:57", "half there", "own disk", "16.0K", "1.5G"):
        assert whole in text, text


def test_json_mode_writes_one_document(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    out = io.StringIO()
    Renderer(stdout=lambda: out, json_mode=True).records(ROWS, ROWS, COLUMNS)
    assert json.loads(out.getvalue()) == ROWS


def test_color_policy() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_color(Tty(), False, {"TERM": "xterm"})
    assert not wants_color(Tty(), True, {"TERM": "xterm"})
    assert not wants_color(Tty(), False, {"TERM": "xterm", "NO_COLOR": ""})
    assert not wants_color(Tty(), False, {"TERM": "dumb"})
    assert not wants_color(io.StringIO(), False, {"TERM": "xterm"})
