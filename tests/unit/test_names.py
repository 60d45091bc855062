"""Session names, the id swap map, and the btrfs change-stream parser: pure logic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herodev_shell.core.names import RESERVED, name_problem, validate_name
from herodev_shell.core.settings import Settings
from herodev_shell.errors import UsageError
from herodev_shell.system.idmap import ID_LIMIT, map_text, swap_map

SETTINGS = Settings(user_prefix="dev_")


@pytest.mark.parametrize(
    "name",
    ["a", "alice", "bob-2", "x_y", "a" * 28, "agent-7_build"],
)
def test_good_names(name: str) -> None:
    assert name_problem(name, SETTINGS.max_name_length) is None
    assert validate_name(SETTINGS, name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        ".",
        "/",
        "a/b",
        "../etc",
        "a b",
        " a",
        "Alice",
        "$(id)",
        "`id`",
        "a;b",
        "a|b",
        "a&b",
        "a\nb",
        "a" * 29,
        "1abc",
        "-a",
        "_a",
        "a.b",
        "é",
        "root",
        "list",
        "sessions",
    ],
)
def test_bad_names_are_usage_errors_that_say_what_is_allowed(name: str) -> None:
    assert name_problem(name, SETTINGS.max_name_length)
    with pytest.raises(UsageError) as caught:
        validate_name(SETTINGS, name)
    assert caught.value.exit_code == 2
    assert "a-z, 0-9" in (caught.value.hint or "")


def test_a_long_prefix_shortens_the_limit_so_the_user_name_fits_32() -> None:
    settings = Settings(user_prefix="a_long_prefix_xx")  # 16 characters
    assert settings.max_name_length == 16
    assert name_problem("a" * 16, settings.max_name_length) is None
    assert name_problem("a" * 17, settings.max_name_length)


@given(st.from_regex(r"[a-z][a-z0-9_-]{0,27}", fullmatch=True).filter(lambda n: n not in RESERVED))
def test_every_accepted_name_makes_a_valid_user_name(name: str) -> None:
    # Drawn from the accepted shape (random text is almost never accepted, so a filter on it
    # would check next to nothing): every such name is accepted and makes a valid user name.
    assert name_problem(name, SETTINGS.max_name_length) is None
    user = SETTINGS.user_for(name)
    assert len(user) <= 32 and user.isascii() and "/" not in user and name[0].isalpha()


def _apply(rows: list[tuple[int, int, int]], uid: int) -> int:
    for inside, outside, count in rows:
        if inside <= uid < inside + count:
            return outside + uid - inside
    raise AssertionError(f"{uid} unmapped")


@pytest.mark.parametrize(("owner", "session"), [(1000, 1001), (1001, 1000), (0, 1001), (1001, 0), (5, 6), (7, 7)])
def test_swap_map_swaps_two_ids_and_keeps_the_rest(owner: int, session: int) -> None:
    rows = swap_map(owner, session)
    assert all(count > 0 for _, _, count in rows)
    assert len(rows) <= 5
    assert _apply(rows, owner) == session
    assert _apply(rows, session) == owner
    for other in {0, 1, 999, 65534, ID_LIMIT - 1} - {owner, session}:
        assert _apply(rows, other) == other
    assert sum(count for _, _, count in rows) == ID_LIMIT  # every id, once
    assert map_text(rows).count("\n") == len(rows)
