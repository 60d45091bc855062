"""Test-only fault injection: HERODEV_FAIL_AT=STEP[,STEP...] makes `maybe_fail(STEP)` raise.

Tests use it to prove that a multi-step operation undoes its earlier steps when a later one
fails (e.g. HERODEV_FAIL_AT=create:after-user). It is not a user feature: do not set it in
production.
"""

from __future__ import annotations

import os

from herodev_shell.errors import HerodevError

ENV_VAR = "HERODEV_FAIL_AT"


# HERODEV_KILL_AT=STEP: the process SIGKILLs itself there, as a crash or `kill -9` would
# (no undo, no cleanup): the reliability suite then checks that `repair` recovers.
KILL_VAR = "HERODEV_KILL_AT"


def _named(variable: str, step: str) -> bool:
    wanted = os.environ.get(variable, "")
    return bool(wanted) and step in (part.strip() for part in wanted.split(","))


# HERODEV_INTERRUPT_AT=STEP: a SIGINT to ourselves there, as a Ctrl-C at that moment would be.
INTERRUPT_VAR = "HERODEV_INTERRUPT_AT"


def maybe_fail(step: str) -> None:
    if _named(KILL_VAR, step):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if _named(INTERRUPT_VAR, step):
        import signal

        signal.raise_signal(signal.SIGINT)
    if _named(ENV_VAR, step):
        raise HerodevError(f"injected failure at {step} ({ENV_VAR} is set: test only)")
