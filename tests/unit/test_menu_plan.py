"""The menu shows what push would do before it asks, and q leaves a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from herodev_shell.cli.menu import ACTIONS, LEAVE, Menu


class ScriptedUI:
    def __init__(self, picks: list[Any], answers: list[str]) -> None:
        self.picks, self.answers, self.said = picks, answers, []  # type: ignore[var-annotated]

    def choose(self, title: str, options: Sequence[tuple[Any, str]]) -> Any | None:
        return self.picks.pop(0) if self.picks else None

    def ask(self, question: str) -> str | None:
        self.said.append(question)
        return self.answers.pop(0) if self.answers else None

    def say(self, text: str) -> None:
        self.said.append(text)


def test_push_runs_its_dry_run_before_the_question() -> None:
    push = next(a for a in ACTIONS if a.command == "push")
    ran: list[list[str]] = []
    ui = ScriptedUI([("session", "alice"), push, LEAVE, LEAVE], ["ship it", "y"])

    def run(argv: list[str]) -> int:
        ran.append(argv)
        ui.said.append(f"ran {argv[-1]}")
        return 0

    Menu(ui, run=run, sessions=lambda: ["alice"], has_command=lambda name: True).main()
    assert ran == [["push", "-s", "alice", "-m", "ship it", "-n"], ["push", "-s", "alice", "-m", "ship it"]]
    plan, question = ui.said.index("ran -n"), next(i for i, s in enumerate(ui.said) if "[y/N]" in s)
    assert plan < question  # the plan is on the screen when the question comes


def test_a_failed_plan_asks_nothing_and_pushes_nothing() -> None:
    push = next(a for a in ACTIONS if a.command == "push")
    ran: list[list[str]] = []
    ui = ScriptedUI([("session", "alice"), push, LEAVE, LEAVE], [""])
    Menu(ui, run=lambda argv: ran.append(argv) or 1, sessions=lambda: ["alice"], has_command=lambda n: True).main()
    assert ran == [["push", "-s", "alice", "-n"]] and "nothing pushed" in ui.said
