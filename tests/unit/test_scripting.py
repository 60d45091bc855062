import pytest

from herodev_shell.cli.scripting import split_commands


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("use alice; changes", ["use alice", "changes"]),
        ("use alice\nchanges\n", ["use alice", "changes"]),
        ("a;;b; ", ["a", "b"]),
        ("commit -m 'fix; again'; push", ["commit -m 'fix; again'", "push"]),
        ('commit -m "a;b"', ['commit -m "a;b"']),
        ("enter a -- sh -c 'id -un; touch x'", ["enter a -- sh -c 'id -un; touch x'"]),
        ("# comment\nlist # trailing\n", ["list"]),
        ("commit -m 'issue #4'", ["commit -m 'issue #4'"]),
        ("echo a\\;b", ["echo a\\;b"]),
        ("", []),
    ],
)
def test_split_commands(text: str, expected: list[str]) -> None:
    assert split_commands(text) == expected
