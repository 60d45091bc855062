"""What checks return: a row of `check`, and a problem a crash left that `repair` can fix."""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL = "pass", "warn", "fail"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # pass | warn | fail
    detail: str


@dataclass(frozen=True)
class Problem:
    kind: str
    session: str | None
    path: str
    detail: str
    fix: str  # what repair will do
