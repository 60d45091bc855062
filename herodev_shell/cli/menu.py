"""`menu`: pick a session (or create one), then an action, for people new to the commands.

The menu decides nothing itself: every action is an ordinary command line run through the
shell (`create NAME`, `enter NAME`, `delete NAME`...), so it does exactly what the commands do
and shows their output and errors. Actions whose command does not exist are not offered.

Two ways to choose: on a colour terminal prompt_toolkit's choice list (arrow keys and Enter,
or a number key); elsewhere (TERM=dumb, NO_COLOR, --no-color) a numbered list and a line of
input, which automation can drive with plain text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

QUIT = "quit"
BACK = "back"
CREATE = "create"
# What choose() returns for q or Esc: leave this list (back from a session, out of the menu).
LEAVE = "leave"
KEYS = "↑/↓ move · Enter or a number picks · q or Esc goes back"
LINE_KEYS = "a number or a name picks, q goes back"


@dataclass(frozen=True)
class Action:
    command: str
    label: str
    destructive: bool = False


ACTIONS = (
    Action("enter", "enter: open a shell in the session"),
    Action("changes", "changes: repositories with changes"),
    Action("diff", "diff: the changes themselves"),
    Action("push", "push: commit (with a message) and push to the remotes", destructive=True),
    Action("delete", "delete: remove the session", destructive=True),
)


class MenuUI(Protocol):
    def choose(self, title: str, options: Sequence[tuple[Any, str]]) -> Any | None: ...
    def ask(self, question: str) -> str | None: ...
    def say(self, text: str) -> None: ...


class LineUI:
    """Numbered lists and typed answers: works on any terminal, and under pexpect."""

    def __init__(self, read: Callable[[str], str], say: Callable[[str], None]) -> None:
        self._read = read
        self._say = say

    def say(self, text: str) -> None:
        self._say(text)

    def ask(self, question: str) -> str | None:
        try:
            return self._read(question).strip()
        except EOFError:
            return None

    def choose(self, title: str, options: Sequence[tuple[Any, str]]) -> Any | None:
        self._say(title)
        for number, (_, label) in enumerate(options, 1):
            self._say(f"  {number}) {label}")
        self._say(f"  ({LINE_KEYS})")
        while True:
            # The prompt stays exactly `choose 1-N: `: scripts wait for it.
            answer = self.ask(f"choose 1-{len(options)}: ")
            if answer is None:
                return None
            if answer.lower() in ("q", "quit", "\x1b"):
                return LEAVE
            picked = _pick(answer, options)
            if picked is not None:
                return picked
            self._say(f"please type a number from 1 to {len(options)}")


def _pick(answer: str, options: Sequence[tuple[Any, str]]) -> Any | None:
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return options[int(answer) - 1][0]
    # A typed label works too: the first word of one ("delete", a session name).
    for value, label in options:
        if answer and label.split(":")[0].split()[0] == answer:
            return value
    return None


class ArrowUI(LineUI):
    """prompt_toolkit's choice list; questions still use a line of input."""

    def choose(self, title: str, options: Sequence[tuple[Any, str]]) -> Any | None:
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.shortcuts import choice

        keys = KeyBindings()

        @keys.add("q")
        @keys.add("escape", eager=True)
        def _leave(event: Any) -> None:
            event.app.exit(result=LEAVE)

        try:
            # The keys go under the title: a bottom toolbar needs cursor-position answers.
            return choice(f"{title}\n({KEYS})", options=list(options), key_bindings=keys)
        except (KeyboardInterrupt, EOFError):
            return None


class Menu:
    """The dialogue. run(argv) runs one command line and returns its exit code."""

    def __init__(
        self,
        ui: MenuUI,
        run: Callable[[list[str]], int],
        sessions: Callable[[], list[str]],
        has_command: Callable[[str], bool],
    ) -> None:
        self.ui = ui
        self.run = run
        self.sessions = sessions
        self.has = has_command

    def main(self) -> None:
        while True:
            options: list[tuple[Any, str]] = [((("session", name)), name) for name in self.sessions()]
            if self.has("create"):
                options.append(((CREATE, ""), "create a new session"))
            options.append(((QUIT, ""), "quit the menu"))
            title = "Sessions:" if len(options) > 2 or not self.has("create") else "No sessions yet."
            picked = self.ui.choose(title, options)
            if picked is None or picked == LEAVE or picked[0] == QUIT:
                return
            if picked[0] == CREATE:
                name = self.ui.ask("name of the new session: ")
                if not name or self.run(["create", name]) != 0:
                    continue
                session = name
            else:
                session = picked[1]
            if self.session_menu(session) == QUIT:
                return

    def session_menu(self, session: str) -> str:
        """Actions on one session until the user goes back (BACK) or quits (QUIT)."""
        while True:
            actions = [a for a in ACTIONS if self.has(a.command)]
            options: list[tuple[Any, str]] = [(a, a.label) for a in actions]
            options += [(BACK, "back to the sessions"), (QUIT, "quit the menu")]
            picked = self.ui.choose(f"Session {session}: what now?", options)
            if picked is None or picked == QUIT:
                return QUIT
            if picked in (BACK, LEAVE):
                return BACK
            if self.act(picked, session) == "gone":
                return BACK

    def act(self, action: Action, session: str) -> str | None:
        if action.command == "delete":
            return self._delete(session)
        if action.command == "push":
            self._push(session)
            return None
        if action.command == "enter":
            self.run(["enter", session])
        else:
            self.run([action.command, "-s", session])
        return None

    def _yes(self, question: str) -> bool:
        answer = self.ui.ask(f"{question} [y/N] ")
        return (answer or "").lower() in ("y", "yes")

    def _delete(self, session: str) -> str | None:
        if not self._yes(f"Delete session {session}?"):
            self.ui.say("not deleted")
            return None
        if self.run(["delete", session]) == 0:
            return "gone"
        # delete refuses to lose work and says what is at stake (above); ask once more.
        if self._yes(f"Delete {session} anyway, losing what is listed above?"):
            return "gone" if self.run(["delete", "-f", session]) == 0 else None
        self.ui.say("not deleted")
        return None

    def _push(self, session: str) -> None:
        message = self.ui.ask("commit message (empty: push existing commits only): ")
        if message is None:
            return
        argv = ["push", "-s", session] + (["-m", message] if message else [])
        # The plan first (push -n: what would be committed and pushed, where), then the question.
        if self.run([*argv, "-n"]) != 0:
            self.ui.say("nothing pushed")
            return
        question = "Commit all changes and push them as above?" if message else "Push the commits above?"
        if self._yes(question):
            self.run(argv)
        else:
            self.ui.say("nothing pushed")
