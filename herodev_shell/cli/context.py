"""What every command needs: settings, the runner, the renderer, the current session, answers.

One AppContext lives as long as the shell (or the one-shot run), so `use alice` in the first
part of `-c "use alice; changes"` is seen by the second.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import IO

from herodev_shell.cli.render import Renderer
from herodev_shell.cli.sanitize import visible
from herodev_shell.core.names import allowed_text, shape_problem
from herodev_shell.core.settings import Settings
from herodev_shell.errors import HerodevError, UsageError
from herodev_shell.system.runner import Runner

# Where commands come from: hints and `use` depend on it.
ONE_SHOT, SCRIPT, SHELL = "one-shot", "script", "shell"


@dataclass
class AppContext:
    settings: Settings
    runner: Runner
    renderer: Renderer
    force: bool = False
    json: bool = False
    interactive: bool = False  # a person at a terminal can answer questions
    current_session: str | None = None
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    where: str = ONE_SHOT  # `herodev CMD`; SCRIPT for -c and stdin; SHELL at the prompt

    @property
    def lasting(self) -> bool:
        """Does state such as `use` outlive this command (a shell, or -c/script parts)?"""
        return self.where != ONE_SHOT

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def out(self, json_flag: bool = False) -> Renderer:
        """The renderer, in JSON mode when the global --json or the command's --json says so."""
        if json_flag and not self.renderer.json_mode:
            return self.renderer.with_json()
        return self.renderer

    def dry_for(self, args: object) -> bool:
        """A command's own -n/--dry-run makes the runner dry until restore_dry(); True if it did."""
        if getattr(args, "dry_run", False) and not self.runner.dry_run:
            self.runner.dry_run = True
            return True
        return False

    def restore_dry(self, made_dry: bool) -> None:
        if made_dry:
            self.runner.dry_run = False

    def session_name(self, explicit: str | None) -> str:
        """-s NAME, else the session chosen by `use`, else a usage error saying how to choose."""
        name = explicit or self.current_session
        if not name:
            hint = "pass -s NAME, or choose one with 'use NAME'" if self.lasting else "pass -s NAME"
            raise UsageError("no session chosen", hint=hint)
        problem = shape_problem(name, self.settings.max_name_length)
        if problem:  # the same rule as create: '-s x/../..' never reaches a path
            raise UsageError(problem, hint=allowed_text(self.settings.max_name_length))
        return name

    def confirm(self, question: str) -> bool:
        """-f answers yes; a person at a terminal is asked; anyone else gets an error, never a hang."""
        if self.force or self.dry_run:
            return True
        if not self.interactive:
            raise HerodevError(f"{question} (needs an answer)", hint="pass -f to proceed without asking")
        sys.stderr.write(f"{visible(question)} [y/N] ")
        sys.stderr.flush()
        answer = self.stdin.readline()
        return answer.strip().lower() in ("y", "yes")
