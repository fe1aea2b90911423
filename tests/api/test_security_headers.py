"""The board and the API send security headers; the board allows no script at all."""

from __future__ import annotations

import httpx


async def test_every_answer_carries_the_security_headers(api: httpx.AsyncClient) -> None:
    for path in ("/", "/health", "/activity-definitions/", "/definitions/nothing-here"):
        answer = await api.get(path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
        assert answer.headers["x-frame-options"] == "DENY", path
        assert answer.headers["referrer-policy"] == "no-referrer", path
    board = await api.get("/")
    csp = board.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none': no script runs
    assert "<script" not in board.text
    # Swagger runs its scripts, from this origin only (tests/api/test_docs_offline.py).
    docs_csp = (await api.get("/docs")).headers["content-security-policy"]
    assert "script-src 'self'" in docs_csp and "frame-ancestors 'none'" in docs_csp
