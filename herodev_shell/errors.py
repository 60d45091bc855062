"""The errors herodev raises on purpose: each carries its exit code and an optional hint.

Anything else that escapes a command is a bug and is reported as an internal error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout went away (`| head`), as git reports it


class HerodevError(Exception):
    """A failure the user can understand: one line of message, maybe one line of hint."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(HerodevError):
    """Bad arguments, an unknown command or an invalid name: exit 2."""

    exit_code = EXIT_USAGE


class NotFound(HerodevError):
    """A session, repository or file that does not exist."""


class NeedsRoot(HerodevError):
    """A command that changes the system, run without root privileges."""

    def __init__(self, command: str) -> None:
        super().__init__(f"{command} needs root privileges", hint=f"sudo herodev {command} ...")


class Busy(HerodevError):
    """Another herodev holds the lock."""


class CommandFailed(HerodevError):
    """An external command exited non-zero; message carries its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, hint: str | None = None) -> None:
        detail = _last_meaningful_line(stderr) or f"exit status {returncode}"
        super().__init__(f"{argv[0]} failed: {detail}", hint=hint)
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr


def _last_meaningful_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    # Tools like mkfs and useradd put the real reason on the first "ERROR"/"error" line.
    for line in lines:
        if line.lower().startswith(("error", "fatal")):
            return line
    return lines[-1]
