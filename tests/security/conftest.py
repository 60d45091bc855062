"""The attack suite's closing line: `attacks: N tried, M succeeded`.

Every test under tests/security is one attack from inside a session (a class of the trust
model in shared/DESIGN.md, or a variant of one) that asserts the safe outcome. A failing test
is an attack that got through; an error in setting it up counts as one too, so a suite that
cannot arm its attacks never reads as safe.
"""

from __future__ import annotations

import pytest

_SECURITY = "tests/security/"


def _is_attack(nodeid: str) -> bool:
    return nodeid.startswith(_SECURITY)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tried: set[str] = set()
    succeeded: set[str] = set()
    for key in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(key, []):
            nodeid = getattr(report, "nodeid", "")
            if not _is_attack(nodeid):
                continue
            tried.add(nodeid)
            if key != "passed":
                succeeded.add(nodeid)
    if not tried:
        return
    terminalreporter.write_sep("=", f"attacks: {len(tried)} tried, {len(succeeded)} succeeded")
    for nodeid in sorted(succeeded):
        terminalreporter.write_line(f"  got through: {nodeid}")
