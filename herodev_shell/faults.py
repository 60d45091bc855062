"""Test-only fault injection: HERODEV_FAIL_AT=STEP[,STEP...] makes `maybe_fail(STEP)` raise.

Tests use it to prove that a multi-step operation undoes its earlier steps when a later one
fails (e.g. HERODEV_FAIL_AT=create:after-user). It is not a user feature: do not set it in
production.
"""

from __future__ import annotations

import os

from herodev_shell.errors import HerodevError

ENV_VAR = "HERODEV_FAIL_AT"


def maybe_fail(step: str) -> None:
    wanted = os.environ.get(ENV_VAR, "")
    if wanted and step in (part.strip() for part in wanted.split(",")):
        raise HerodevError(f"injected failure at {step} ({ENV_VAR} is set: test only)")
