"""One root for every error Jobico raises on purpose.

Split as h11 and trio do: ``UserError`` is "you did it" (bad input, bad file,
bad flag: the message names the file, field or item), ``Unavailable`` is "the
world did it" (a component down, a disk full) and may succeed on retry.
"""

from __future__ import annotations


class JobicoError(Exception):
    """Root of every deliberate Jobico error."""


class UserError(JobicoError):
    """Bad input from the caller; retrying the same call will fail the same way."""


class NotFound(UserError):
    """The named tenant, event, record or file does not exist."""


class Conflict(UserError):
    """The request contradicts one already made (an idempotency key reused for another body)."""


class ConfigError(UserError):
    """A configuration value is invalid; the message names the key and its source."""


class Unavailable(JobicoError):
    """A dependency is down or full; the same call may succeed later."""


class QueueFull(Unavailable):
    """A tenant (or package) is at its queue depth limit; its own senders may retry later."""
