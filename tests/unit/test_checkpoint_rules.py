"""Checkpoint ids and labels: what may reach a path or an operator's terminal. Pure logic."""

from __future__ import annotations

import pytest

from herodev_shell.core.checkpoints import MAX_LABEL, label_problem, validate_id
from herodev_shell.errors import UsageError


@pytest.mark.parametrize("ident", ["1", "42", "999999999"])
def test_ids_are_positive_numbers(ident: str) -> None:
    assert validate_id(ident) == ident


@pytest.mark.parametrize(
    "ident", ["", "0", "01", "-1", "1\n", " 1", "1 ", "../1", "1/..", "x", "1e3", "٣", "1234567890"]
)
def test_anything_else_is_a_usage_error(ident: str) -> None:
    with pytest.raises(UsageError):
        validate_id(ident)


@pytest.mark.parametrize("label", ["", "before the refactor", "café ✓", "a" * MAX_LABEL, "tabs\tare not fine"[:4]])
def test_printable_labels_pass(label: str) -> None:
    assert label_problem(label) is None


@pytest.mark.parametrize(
    "label", ["\x1b[2J", "a\nb", "\t", "\x7f", "\x9b31m", "\u202e", "\u2028", "a" * (MAX_LABEL + 1)]
)
def test_control_characters_and_long_labels_are_refused(label: str) -> None:
    assert label_problem(label)
