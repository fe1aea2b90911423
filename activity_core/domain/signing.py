"""Signed webhooks, the Standard Webhooks way (https://www.standardwebhooks.com). Pure.

Each signed request carries ``webhook-id`` (the delivery's idempotency key: the same on
every retry), ``webhook-timestamp`` (Unix seconds when this attempt was sent) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one entry per
secret, space-separated, so a receiver keeps verifying while secrets rotate. A receiver
checks one entry against its secret over the exact bytes of the body, and refuses a
timestamp more than a few minutes from its clock (a replayed request).

Secrets are written ``whsec_<base64 key>`` (the scheme's form); several can be given at
once, separated by spaces or commas.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300
"""How far a receiver accepts a timestamp from its own clock (the scheme's default)."""


def signing_keys(value: str) -> list[bytes]:
    """The keys in a secret value (``whsec_...`` entries, spaces or commas between).

    Raises:
        ValueError: An entry is not ``whsec_<base64>`` (the value itself is not shown).
    """
    keys: list[bytes] = []
    for n, entry in enumerate(value.replace(",", " ").split(), start=1):
        if not entry.startswith(PREFIX):
            raise ValueError(f"signing secret entry {n} does not start with {PREFIX}")
        try:
            key = base64.b64decode(entry[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"signing secret entry {n} is not base64 after {PREFIX}") from None
        if len(key) < 24:
            raise ValueError(f"signing secret entry {n} is {len(key)} bytes; use at least 24")
        keys.append(key)
    if not keys:
        raise ValueError("signing secret is empty")
    return keys


def signature(msg_id: str, timestamp: int, body: bytes, keys: list[bytes]) -> str:
    """The ``webhook-signature`` header value: one ``v1,<base64>`` per key."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def signed_headers(msg_id: str, timestamp: int, body: bytes, keys: list[bytes]) -> dict[str, str]:
    """The three headers of a signed request."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(msg_id, timestamp, body, keys),
    }


def verify(
    headers: dict[str, str],
    body: bytes,
    keys: list[bytes],
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> str | None:
    """Why a request fails verification (None: it passes): a receiver's side, used by the
    reference State Hub. ``headers`` keys are lower-case."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    given = headers.get("webhook-signature", "")
    if not msg_id or not stamp or not given:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not stamp.isascii() or not stamp.isdigit():
        return "webhook-timestamp is not Unix seconds"
    if abs(now - int(stamp)) > tolerance:
        return f"webhook-timestamp is more than {tolerance} s from now (replayed or clock skew)"
    expected = {s.split(",", 1)[1] for s in signature(msg_id, int(stamp), body, keys).split()}
    for entry in given.split():
        version, _, value = entry.partition(",")
        if version == "v1" and any(hmac.compare_digest(value, e) for e in expected):
            return None
    return "no webhook-signature entry matches"
