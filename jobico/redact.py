"""Secrets never reach a log line, an HTTP body, `jobico config` or a command line.

The Redis URL may carry a password (``redis://:PASSWORD@host``); webhook secrets
are whole values. Everything that shows a configuration value or an error that
names a URL passes it through here first.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "****"


def redact_url(url: str) -> str:
    """``url`` with any password (and a user name that stands alone as one) masked.

    ``redis://:pw@host:6379/0`` -> ``redis://:****@host:6379/0``; a URL without
    credentials comes back unchanged; text that does not parse as a URL is
    masked whole rather than risk printing a secret.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return MASK
    if "@" not in parts.netloc:
        # no credentials where a URL keeps them; an "@" elsewhere may still be one
        # in a malformed URL ("redis//:pw@host"): never guess, mask it all
        return MASK if "@" in url else url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    masked = f"{user}:{MASK}" if colon else MASK  # a lone user part is a password (AUTH <pw>)
    if host is None and not hostport:
        return MASK
    return urlunsplit(parts._replace(netloc=f"{masked}@{hostport}"))


def redact_text(text: str, secret: str) -> str:
    """``text`` with every occurrence of ``secret`` (and its masked URL form) replaced."""
    if not secret:
        return text
    return text.replace(secret, redact_url(secret))
