"""A sink that echoes the token back in any form never gets it into an error text."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import httpx
import pytest

from activities.redact import sanitise, scrub
from activity_core.domain import AttemptOutcome, WebhookSink
from tests.unit.test_delivery import _deliver

TOKEN = "Zq81xPmw4TnR7vKc2dLs"


def _forms_of(token: str) -> list[str]:
    raw = token.encode()
    return [
        token,
        token.lower(),
        token.upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(b"Bearer " + raw).decode().rstrip("="),
        token[:10],
        token[10:],
        token[3:15],
    ]


ECHOES: dict[str, Callable[[httpx.Request], str]] = {
    "lower-cased": lambda r: f"bad token {r.headers['Authorization'].lower()}",
    "upper-cased": lambda r: f"BAD TOKEN {r.headers['Authorization'].upper()}",
    "base64 of the header": lambda r: base64.b64encode(
        r.headers["Authorization"].encode()
    ).decode(),
    "base64 of the whole request": lambda r: base64.b64encode(
        json.dumps(dict(r.headers)).encode()
    ).decode(),
    "split in two": lambda r: (
        f"got {r.headers['Authorization'][7:17]} and then {r.headers['Authorization'][17:]}"
    ),
    "reversed halves": lambda r: f"{TOKEN[10:]} / {TOKEN[:10]}",
    "headers as JSON": lambda r: json.dumps({"headers": dict(r.headers)}),
    "spaced out": lambda r: " ".join(TOKEN[i : i + 4] for i in range(0, len(TOKEN), 4)),
}


@pytest.mark.parametrize("echo", list(ECHOES), ids=list(ECHOES))
async def test_an_echoed_token_in_any_form_is_not_in_the_error(
    echo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACTCORE_SINK_TOKEN_INBOX", TOKEN)
    monkeypatch.setenv("ACTCORE_SINK_ORIGIN_INBOX", "http://inbox.test")
    sink = WebhookSink(type="webhook", url="http://inbox.test/hook", secret="inbox")
    answer = ECHOES[echo]
    result, seen = await _deliver(
        httpx.MockTransport(lambda r: httpx.Response(401, text=answer(r))), sink
    )
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    error = result.error or ""  # type: ignore[attr-defined]
    assert result.outcome == AttemptOutcome.PERMANENT  # type: ignore[attr-defined]
    assert error.startswith("HTTP 401"), error
    low = error.lower()
    for form in _forms_of(TOKEN):
        # Pieces of 8 or more would let a reader rebuild the token.
        for i in range(len(form) - 7):
            assert form[i : i + 8].lower() not in low, (echo, form, error)


def test_credential_looking_words_go_but_the_reason_stays() -> None:
    text = (
        '{"error": "invalid api_key=sk_live_51HcQ2 for account", "session": "abc", '
        '"jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", '
        '"detail": "event_type unknown: use one of daily_digest, wsjf-triage"}'
    )
    out = sanitise(text, [])
    assert "sk_live_51HcQ2" not in out and "eyJhbGciOiJIUzI1NiJ9" not in out
    assert '"session": "[redacted]"' in out
    assert "invalid api_key=[redacted] for account" in out
    assert "event_type unknown: use one of daily_digest, wsjf-triage" in out


def test_a_whole_message_keeps_its_own_words() -> None:
    message = "task 3 (stale:wi-1234567): HTTP 503: try later"
    assert scrub(message, [TOKEN]) == message
    assert scrub(f"echo {TOKEN.lower()}!", [TOKEN]) == "echo [redacted]!"
