"""reorganize's plan: pure decisions over a list of repositories (no moves)."""

from __future__ import annotations

from pathlib import Path

from herodev_shell.core.repos import Repo, plan_reorganize


def repo(path: str, remote: str | None) -> Repo:
    return Repo(path, remote, "origin" if remote else None, "main", None, None)


def test_plan_skips_clashes_nesting_sessions_and_local_remotes(tmp_path: Path) -> None:
    (tmp_path / "github.com/acme/exists").mkdir(parents=True)
    plan = {
        m.path: m
        for m in plan_reorganize(
            tmp_path,
            [
                repo("a", "https://github.com/acme/a.git"),
                repo("b", "https://github.com/acme/a"),  # same target as a: a wins (sorted)
                repo("c", "git@github.com:acme/exists.git"),
                repo("d", "https://.sessions/x/y.git"),
                repo("e", "/srv/git/e.git"),
                repo("f", None),
                repo("github.com/acme/g", "https://github.com/acme/g"),
                repo("h", "https://h.example/h/h"),
                repo("h/inner", "https://h.example/other/inner"),
                repo("host/x", "https://host/x/y"),  # target host/x/y is inside host/x itself
            ],
        )
    }
    assert plan["a"].status == "planned" and plan["a"].target == "github.com/acme/a"
    assert plan["b"].status == "skipped" and "another repository" in plan["b"].reason
    assert plan["c"].status == "skipped" and "already exists" in plan["c"].reason
    assert plan["d"].status == "skipped" and "sessions dir" in plan["d"].reason
    assert plan["e"].status == "skipped" and "local remote" in plan["e"].reason
    assert plan["f"].status == "skipped" and plan["f"].reason == "no remote"
    assert "github.com/acme/g" not in plan  # already in place
    assert plan["h"].status == "planned"
    assert plan["h/inner"].status == "skipped" and "which moves" in plan["h/inner"].reason
    assert plan["host/x"].status == "skipped" and "contain each other" in plan["host/x"].reason
