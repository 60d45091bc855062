"""Showing long output through the operator's pager (`$PAGER`, default `less -FRX`).

Not through Runner: the pager must inherit our terminal as stdout and the operator's own
environment (LESS, TERM, LANG), as git's pager does, and Ctrl-C belongs to it while it runs
(less uses it to stop a search) rather than to us. What it is given was already made
visible (control characters escaped) by the renderer, so `-R` passes only our colours.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Mapping

DEFAULT = "less"
OFF = ("off", "no", "false", "0", "cat", "")


def pager_command(setting: str, environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The pager's argv from the setting, else $PAGER, else less; None when paging is off."""
    environ = os.environ if environ is None else environ
    text = setting.strip() or environ.get("PAGER", DEFAULT).strip()
    if text.lower() in OFF:
        return None
    try:
        argv = shlex.split(text)
    except ValueError:
        return None
    return argv or None


def page(argv: list[str], text: str) -> bool:
    """Send text to the pager and wait for it; False when it could not start (print instead)."""
    env = dict(os.environ)
    # As git does: quit at once when it all fits, keep colours, leave the screen as it was.
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env, text=True, errors="replace")
    except OSError:
        return False
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert process.stdin is not None
        try:
            process.stdin.write(text)
            process.stdin.close()
        except BrokenPipeError:  # the reader quit early (q in less): not an error
            pass
        process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return True


def drop_stdout() -> None:
    """stdout's reader went away (`| head`): point fd 1 at /dev/null, so that nothing written
    or flushed later (Python's own flush at exit too) fails again."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
