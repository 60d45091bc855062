"""One way to run external commands: argv lists, timeouts, --verbose echo, --dry-run.

Nothing in herodev calls subprocess directly; everything comes through Runner.run so that
`-v` shows every command, `-n` changes nothing, and failures read the same everywhere.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from herodev_shell.errors import CommandFailed, HerodevError

DEFAULT_TIMEOUT = 120.0

# The environment external commands see: enough to work, nothing a caller's shell leaked in
# (GIT_DIR, LD_PRELOAD ...). Callers add what a command needs through `env=`.
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "SSH_AUTH_SOCK", "TMPDIR", "USER", "LOGNAME")


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _echo_to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class Runner:
    verbose: bool = False
    dry_run: bool = False
    echo: Callable[[str], None] = field(default=_echo_to_stderr)

    def base_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        env["LC_ALL"] = "C.UTF-8"  # tools' messages are parsed in places: keep them English
        if extra:
            env.update(extra)
        return env

    def say(self, text: str) -> None:
        """A plan line under --dry-run, or a progress line under --verbose."""
        self.echo(text)

    def run(
        self,
        argv: Sequence[str],
        *,
        changes: bool = True,
        check: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        input: str | bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stream: bool = False,
        text: bool = True,
        hint: str | None = None,
    ) -> Result:
        """Run argv. `changes=False` marks a read-only probe, which runs even under --dry-run.

        `stream=True` lets the command write to our terminal (apt and mkfs progress).
        """
        argv = [os.fspath(part) for part in argv]
        line = shlex.join(argv)
        if self.dry_run and changes:
            self.echo(f"would run: {line}")
            return Result(argv, 0, "", "")
        if self.verbose:
            self.echo(f"+ {line}")
        try:
            completed = subprocess.run(
                argv,
                input=input,
                stdout=None if stream else subprocess.PIPE,
                stderr=subprocess.PIPE,
                timeout=timeout,
                env=self.base_env(env),
                cwd=cwd,
                text=text,
                errors="replace" if text else None,
                check=False,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise HerodevError(
                f"{argv[0]}: command not found", hint=hint or "run 'herodev check' to see what is missing"
            ) from None
        except subprocess.TimeoutExpired:
            raise HerodevError(f"{argv[0]} did not finish within {timeout:.0f}s: {line}") from None
        result = Result(argv, completed.returncode, completed.stdout or "", completed.stderr or "")
        if check and completed.returncode != 0:
            stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode(errors="replace")
            raise CommandFailed(argv, completed.returncode, stderr or str(result.stdout), hint=hint)
        return result

    def pipe(
        self,
        first: Sequence[str],
        second: Sequence[str],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """first | second, read-only (used for `btrfs send | btrfs receive --dump`)."""
        first = [os.fspath(p) for p in first]
        second = [os.fspath(p) for p in second]
        if self.verbose:
            self.echo(f"+ {shlex.join(first)} | {shlex.join(second)}")
        full_env = self.base_env(env)
        try:
            producer = subprocess.Popen(
                first, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=full_env
            )
            try:
                consumer = subprocess.run(
                    second,
                    stdin=producer.stdout,
                    capture_output=True,
                    timeout=timeout,
                    env=full_env,
                    text=True,
                    errors="replace",
                    check=False,
                )
            finally:
                assert producer.stdout is not None
                producer.stdout.close()
                producer_err = producer.stderr.read().decode(errors="replace") if producer.stderr else ""
                producer.wait(timeout=timeout)
        except FileNotFoundError as exc:
            raise HerodevError(f"{exc.filename}: command not found") from None
        except subprocess.TimeoutExpired:
            producer.kill()
            raise HerodevError(f"{first[0]} | {second[0]} did not finish within {timeout:.0f}s") from None
        # `btrfs receive --dump` stops reading at the stream's end marker, and btrfs send can die
        # of SIGPIPE writing after it: a complete read by the consumer makes that harmless.
        broken_pipe = producer.returncode == -signal.SIGPIPE and consumer.returncode == 0
        if producer.returncode != 0 and not broken_pipe:
            raise CommandFailed(first, producer.returncode, producer_err)
        if consumer.returncode != 0:
            raise CommandFailed(second, consumer.returncode, consumer.stderr)
        return Result([*first, "|", *second], 0, consumer.stdout, producer_err + consumer.stderr)
