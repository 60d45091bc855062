"""A session user's git identity, written by that user (runuser), never by root.

`git config --global` as the user writes ~/.gitconfig with the user's own ownership and no link
of theirs is ever followed by root. git inside `enter` then finds user.name and user.email.
"""

from __future__ import annotations

from herodev_shell.system.runner import Runner


def write(user: str, home: str, name: str, email: str, runner: Runner) -> None:
    env = {"HOME": home, "USER": user, "LOGNAME": user}
    for key, value in (("user.name", name), ("user.email", email)):
        runner.run(
            ["runuser", "-u", user, "--", "git", "config", "--global", key, value],
            env=env,
            hint="is git installed? ('herodev check')",
        )
