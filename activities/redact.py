"""Error texts that cannot carry a credential, however a sink echoes it back.

Whole error messages pass :func:`scrub` (rule 1 below); the part a sink wrote (its
answer, its ``Location``) passes :func:`sanitise` (all three rules) first.

A sink's answer goes into history, the Web UI, the CLI, logs and alert notes as a short
excerpt. Searching it for the exact token is not enough: a sink may echo the token
lower-cased, base64-encoded, split across words, or echo the request's headers. So the
excerpt loses, in this order:

1. every fragment of 6 or more characters of a known secret, in any letter case, and
   the secret's base64 forms;
2. the value after any credential-ish key (``Authorization``, ``Bearer``, ``token``,
   ``api_key``, ``password``, ``cookie``, ``signature``, ...) and after the headers this
   worker sends (``Idempotency-Key``, ``webhook-*``);
3. every credential-looking word: 20 or more characters of a token alphabet (unless
   plain lower-case words joined by dashes), or 8 or more mixing letters and digits (ids,
   keys, hashes, the pieces of a JWT or of base64 split at ``/``).

What is left says what happened (``HTTP 401: invalid [redacted] for user ...``) without
anything worth stealing.
"""

from __future__ import annotations

import base64
import re

REDACTED = "[redacted]"
_FRAGMENT = 6

_KEYED = re.compile(
    r"(?i)(authorization|proxy-authorization|bearer|basic|token|access_token|refresh_token|"
    r"api[-_]?key|x-api-key|secret|client_secret|password|passwd|pwd|cookie|set-cookie|"
    r"signature|webhook-[a-z]+|idempotency-key|session|credentials?)"
    r"(\"?\s*[:=]\s*\"?|\s+)"
    r"(?:(?:bearer|basic)\s+)?"
    r"([^\s,;\"'}&]+)"
)
_LONG = re.compile(r"[A-Za-z0-9+=_\-~]{20,}")
_MIXED = re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{8,}\b")


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` (a whole error message) with the known secrets, their fragments and their
    encodings replaced by ``[redacted]`` (rule 1 only: the message's own words stay)."""
    return _without_fragments(text, [s for s in secrets if s and len(s) >= 4])


def sanitise(excerpt: str, secrets: list[str]) -> str:
    """An excerpt of what a sink sent back, with all three rules applied."""
    text = scrub(excerpt, secrets)
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _LONG.sub(lambda m: m.group(0) if _is_plain(m.group(0)) else REDACTED, text)
    return _MIXED.sub(REDACTED, text)


def _is_plain(word: str) -> bool:
    """A long run that is clearly prose or a path (letters and dashes only, lower-case)."""
    return word.replace("-", "").replace("_", "").replace(".", "").isalpha() and (word.islower())


def _forms(secret: str) -> list[str]:
    raw = secret.encode()
    out = [secret]
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        out.append(encoded.decode().rstrip("="))
    out.append(base64.b64encode(b"Bearer " + raw).decode().rstrip("="))
    return out


def _without_fragments(text: str, secrets: list[str]) -> str:
    if not secrets:
        return text
    windows: set[str] = set()
    for secret in secrets:
        for form in _forms(secret):
            low = form.lower()
            if len(low) < _FRAGMENT:
                windows.add(low)
            windows.update(low[i : i + _FRAGMENT] for i in range(len(low) - _FRAGMENT + 1))
    low = text.lower()
    hit = [False] * len(text)
    for i in range(len(low) - _FRAGMENT + 1):
        if low[i : i + _FRAGMENT] in windows:
            for j in range(i, i + _FRAGMENT):
                hit[j] = True
    for secret in secrets:  # a secret shorter than a fragment, matched whole
        if len(secret) < _FRAGMENT:
            for m in re.finditer(re.escape(secret.lower()), low):
                for j in range(m.start(), m.end()):
                    hit[j] = True
    out: list[str] = []
    i = 0
    while i < len(text):
        if hit[i]:
            while i < len(text) and hit[i]:
                i += 1
            out.append(REDACTED)
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
