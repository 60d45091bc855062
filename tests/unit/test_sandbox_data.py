"""What crosses the sandbox boundary is data checked against the expected type."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from herodev_shell.system import sandbox


@dataclass(frozen=True)
class Row:
    path: str
    count: int = 0
    branch: str | None = None
    names: tuple[str, ...] = ()


def test_decode_rebuilds_dataclasses_and_refuses_anything_else() -> None:
    row = Row("a/b", 3, None, ("x",))
    assert sandbox.decode(Row, sandbox.encode(row)) == row
    assert sandbox.decode(list[Row], [{"path": "a"}]) == [Row("a")]
    for bad in ({"path": 1}, {"count": 2}, {"path": "a", "count": True}, {"path": "a\x00"}, ["a"], None):
        with pytest.raises(sandbox.BadAnswer):
            sandbox.decode(Row, bad)
    with pytest.raises(sandbox.BadAnswer):
        sandbox.decode(int, 1 << 70)


def test_encode_sends_only_plain_values() -> None:
    with pytest.raises(TypeError):
        sandbox.encode(object())
    assert sandbox.encode((1, [None, "x"], {"k": Row("p")})) == [
        1,
        [None, "x"],
        {"k": {"path": "p", "count": 0, "branch": None, "names": []}},
    ]


@pytest.mark.parametrize("path", [".", "a", "a/b.c", "x y/z"])
def test_plain_relative_paths(path: str) -> None:
    assert sandbox.plain_relative(path)


@pytest.mark.parametrize("path", ["", "/a", "a/../b", "..", "a//b", "a/", "./a"])
def test_paths_out_of_the_tree_are_not_plain(path: str) -> None:
    assert not sandbox.plain_relative(path)
