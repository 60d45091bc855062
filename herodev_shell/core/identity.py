"""Who a session's commits are by: `create --git-name/--git-email`, else the settings' author
(HERODEV_AUTHOR_NAME/EMAIL), else the session user at this host (dev_alice <dev_alice@host>).

create records it in the session's metadata (root's, outside the session's reach) and in the
user's ~/.gitconfig; `commit` and `info` read the metadata, never the user's file.
"""

from __future__ import annotations

import socket
import unicodedata

from herodev_shell.core.settings import Settings
from herodev_shell.errors import UsageError


def _check(kind: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise UsageError(f"--git-{kind} is empty")
    # git would drop or mangle these; a newline would also break the config file's syntax
    if any(c in "<>\n" or unicodedata.category(c).startswith("C") for c in value):
        raise UsageError(f"--git-{kind} {value!r}: no control characters, '<' or '>'")
    if kind == "email" and (" " in value or "@" not in value):
        raise UsageError(f"--git-email {value!r} is not an address", hint="e.g. --git-email alice@example.com")
    return value


def default_author(settings: Settings, session: str) -> tuple[str, str]:
    """settings' author, else the session user at this host (dev_alice <dev_alice@host>)."""
    user = settings.user_for(session)
    return settings.author_name or user, settings.author_email or f"{user}@{socket.gethostname()}"


def choose(settings: Settings, session: str, name: str | None, email: str | None) -> tuple[str, str]:
    """The identity a new session gets; what was given on the command line wins."""
    default_name, default_email = default_author(settings, session)
    return _check("name", name if name is not None else default_name), _check(
        "email", email if email is not None else default_email
    )


def recorded(settings: Settings, session: str, meta: dict[str, object] | None) -> tuple[str, str]:
    """The identity in a session's metadata; the default for sessions made before it was kept."""
    name, email = (meta or {}).get("git_name"), (meta or {}).get("git_email")
    if isinstance(name, str) and isinstance(email, str) and name and email:
        return name, email
    return default_author(settings, session)
