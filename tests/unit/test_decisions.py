"""The pure parts of the core's decisions, checked in milliseconds without root or btrfs:
push target, prune rules, repair order, quota-group parsing, ages, and quoting for -c."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from herodev_shell.cli.scripting import join_for_shell_line, split_commands
from herodev_shell.core import repair, repair_checkpoints
from herodev_shell.core.checks import Problem
from herodev_shell.core.delivery import push_target
from herodev_shell.core.prune_pull import keep_reason, last_used, parse_age
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system.btrfs import Qgroup, parse_qgroup_show

# --- push: which remote, which branch ---------------------------------------------------------


def test_push_follows_the_code_roots_configured_remote_and_never_resets_its_upstream() -> None:
    assert push_target({"origin", "fork"}, "fork", "feat", "feat", "origin/feat", None) == ("fork", "feat", "", False)
    # --remote wins over the configured one, still without touching the upstream
    assert push_target({"origin", "fork"}, "fork", "feat", "feat", None, "origin") == ("origin", "feat", "", False)


def test_push_with_no_configured_remote_sets_the_upstream_only_for_a_named_remote() -> None:
    assert push_target({"origin"}, None, "feat", "feat", None, "origin") == ("origin", "feat", "", True)
    # a URL is not a remote of the code root: no upstream to set
    assert push_target({"origin"}, None, "feat", "feat", None, "https://h/x.git")[3] is False


def test_push_takes_the_sessions_upstream_only_among_the_code_roots_remote_names() -> None:
    assert push_target({"origin", "fork"}, None, "b", "b", "fork/b", None) == ("fork", "b", "", True)
    # the session's 'evil' remote is not a code-root remote: with two remotes, no guess
    target, _, why, _ = push_target({"origin", "fork"}, None, "b", "b", "evil/b", None)
    assert target is None and "pick one with --remote" in why


def test_push_with_one_remote_uses_it_and_with_none_says_so() -> None:
    assert push_target({"origin"}, None, "b", "b", None, None) == ("origin", "b", "", True)
    target, _, why, upstream = push_target(set(), None, "b", "b", None, None)
    assert target is None and "no remote" in why and upstream is False


def test_push_keeps_the_destination_branch_it_is_given() -> None:
    assert push_target({"origin"}, "origin", "feature", "main", None, None)[1] == "main"


# --- prune: what it keeps without looking at work ---------------------------------------------

DAY = 86400


def test_prune_keeps_half_made_busy_unknown_and_recent_sessions() -> None:
    now = 100 * DAY
    assert "half there" in (keep_reason(["no user"], 0, now - 30 * DAY, now, 7 * DAY) or "")
    assert "2 process(es)" in (keep_reason([], 2, now - 30 * DAY, now, 7 * DAY) or "")
    assert "no record" in (keep_reason([], 0, None, now, 7 * DAY) or "")
    assert keep_reason([], 0, now - 3600, now, 7 * DAY) == "used 1h ago"


def test_prune_goes_on_to_the_work_check_only_past_the_age() -> None:
    now = 100 * DAY
    assert keep_reason([], 0, now - 7 * DAY, now, 7 * DAY) is None  # exactly the age: idle enough
    assert keep_reason([], 0, now - 7 * DAY + 1, now, 7 * DAY) is not None


def test_last_used_is_the_latest_known_time_and_ignores_garbage() -> None:
    meta: dict[str, object] = {"created": "2026-01-01T00:00:00Z", "last_entered": "2026-01-03T00:00:00Z"}
    assert last_used(meta, "2026-01-02T00:00:00Z") == last_used({"created": "2026-01-03T00:00:00Z"}, None)
    assert last_used({"created": "not a time", "last_entered": 7}, None) is None
    assert last_used({}, "2026-01-05T00:00:00Z") is not None


@pytest.mark.parametrize(("text", "seconds"), [("7d", 7 * DAY), ("12h", 43200), ("30", 30 * DAY), (" 2W ", 14 * DAY)])
def test_parse_age(text: str, seconds: int) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "-1d", "1.5d", "7 d", "7y", "7d\n1d"])
def test_parse_age_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError):
        parse_age(text)


# --- repair: the order of fixes ----------------------------------------------------------------


def test_every_checkpoint_kind_repair_knows_is_the_one_repair_checkpoints_reports() -> None:
    assert set(repair._CHECKPOINT_KINDS) == set(repair_checkpoints.KINDS)


def test_repair_unmounts_first_and_removes_users_after_their_snapshots_are_dealt_with() -> None:
    def p(kind: str) -> Problem:
        return Problem(kind, "s", "/x", "", "")

    kinds = [
        repair.LEFTOVER_BASE,
        repair.USER_WITHOUT_SNAPSHOT,
        repair.SNAPSHOT_WITHOUT_USER,
        repair.SESSION_MOUNT,
        repair.STALE_QGROUP,
        repair_checkpoints.HALF_CHECKPOINT,
    ]
    order = [x.kind for x in repair.repair_order([p(k) for k in kinds])]
    assert order[0] == repair.SESSION_MOUNT  # a mount pins the subvolumes below it
    assert order.index(repair_checkpoints.HALF_CHECKPOINT) < order.index(repair.SNAPSHOT_WITHOUT_USER)
    assert order.index(repair.SNAPSHOT_WITHOUT_USER) < order.index(repair.USER_WITHOUT_SNAPSHOT)
    assert order[-1] == repair.STALE_QGROUP  # quota groups last: deleting subvolumes leaves them


def test_repair_order_is_stable_within_a_kind() -> None:
    problems = [Problem(repair.STALE_SCAN, name, "/x", "", "") for name in ("b", "a", "c")]
    assert [x.session for x in repair.repair_order(problems)] == ["b", "a", "c"]


def test_an_unknown_problem_kind_is_a_bug_not_a_silent_skip() -> None:
    with pytest.raises(ValueError):
        repair.repair_order([Problem("something new", None, "/x", "", "")])


# --- btrfs qgroup show --------------------------------------------------------------------------

QGROUPS = """\
Qgroupid    Referenced    Exclusive Max exclusive Path
--------    ----------    --------- ------------- ----
0/5              16384        16384          none <toplevel>
0/256         10485760      4096000   10737418240 sessions/dev_a
0/257            16384        16384          none <stale>
1/100            16384        16384          none
0/258         20971520        81920          none sessions/with space/in path
"""


def test_parse_qgroup_show_reads_level_0_groups_only() -> None:
    groups = parse_qgroup_show(QGROUPS)
    assert [g.subvolume_id for g in groups] == [5, 256, 257, 258]
    assert groups[0] == Qgroup(5, 16384, 16384, None, "")
    assert groups[1] == Qgroup(256, 10485760, 4096000, 10737418240, "sessions/dev_a")
    assert groups[2].path == "<stale>"
    assert groups[3].path == "sessions/with space/in path"


def test_parse_qgroup_show_of_nothing_is_nothing() -> None:
    assert parse_qgroup_show("") == []
    assert parse_qgroup_show("ERROR: can't list qgroups: quotas not enabled\n") == []


# --- quoting argv for the shell's line (-c, menu) ----------------------------------------------

WORD = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\0"), max_size=12)


@given(words=st.lists(WORD, min_size=1, max_size=5))
def test_a_joined_line_splits_back_into_the_same_words(words: list[str]) -> None:
    try:
        line = join_for_shell_line(words)
    except HerodevError:
        # only a word holding both quote kinds (or a backslash with a single quote) is refused
        assert any("'" in w and ('"' in w or "\\" in w) for w in words)
        return
    assert split_commands(line) == [line]  # no ';', newline or '#' inside a word splits it
    assert shlex.split(line) == words


def test_a_word_with_both_quotes_is_refused_with_a_hint() -> None:
    with pytest.raises(HerodevError) as caught:
        join_for_shell_line(["commit", "-m", 'it\'s "quoted"'])
    assert caught.value.hint and caught.value.exit_code == 2
