"""Shared by the pty-driven tests: every shell a test starts is closed, even when it fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.ptyshell import Pty


@pytest.fixture
def shells() -> Iterator[list[Pty]]:
    started: list[Pty] = []
    yield started
    for shell in started:
        shell.close()
