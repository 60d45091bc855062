"""The current time, in the one form herodev stores (metadata, audit log): ISO 8601 UTC, seconds, Z."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
