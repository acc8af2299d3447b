"""Standard Webhooks signature verification (SPEC §3), pure: the clock is passed in.

A signed request carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
``"{id}.{timestamp}.{body}"``, keyed with the base64-decoded secret after ``whsec_``.
Several entries are allowed so a sender can rotate secrets; one match is enough.
Entries of other versions (``v1a`` asymmetric, say) are skipped, never an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from jobico.errors import UserError

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 5 * 60


class SignatureError(UserError):
    """The request's signature is missing, stale or does not match (HTTP 401)."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret (the prefix is optional, as in the reference libraries).

    Errors: ``UserError`` when the part after the prefix is not base64.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise UserError("webhook.secret: not base64 after the whsec_ prefix") from None
    if not key:
        raise UserError("webhook.secret: empty key")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature entry; senders (tests, ``jobico send``) use it too."""
    content = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(key: bytes, headers: Mapping[str, str], body: bytes, now: float) -> tuple[str, int]:
    """The request's ``webhook-id`` and timestamp, once its signature matches; or why not.

    ``headers`` maps lower-case names to values; ``now`` is Unix time in seconds.
    Errors: ``SignatureError`` naming the missing header, the skew, or the mismatch.
    """
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    for name, value in (("webhook-id", msg_id), ("webhook-timestamp", stamp),
                        ("webhook-signature", signatures)):
        if not value:
            raise SignatureError(f"missing header {name}")
    assert msg_id is not None and stamp is not None and signatures is not None
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError(f"webhook-timestamp: not Unix seconds: {stamp[:32]!r}")
    timestamp = int(stamp)
    if abs(now - timestamp) > TOLERANCE_S:
        raise SignatureError(
            f"webhook-timestamp: {timestamp} is more than {TOLERANCE_S} s from now ({int(now)})"
        )
    expected = sign(key, msg_id, timestamp, body).encode()
    matched = False
    for entry in signatures.split():
        # compare every v1 entry, so the time taken does not tell which one matched
        if entry.startswith("v1,"):
            matched |= hmac.compare_digest(entry.encode(), expected)
    if not matched:
        raise SignatureError("webhook-signature: no v1 signature matches")
    return msg_id, timestamp
