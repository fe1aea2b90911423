"""Security headers on every answer of the API and the board.

The board is server-rendered HTML with one inline stylesheet and no script, so its
pages get a strict Content-Security-Policy (no script at all, nothing loaded from
elsewhere, no framing); the Swagger page at ``/docs`` keeps FastAPI's own assets.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BOARD_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
#: Pages that load FastAPI's interactive documentation (scripts from its CDN).
DOC_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """ASGI middleware adding the headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(DOC_PATHS)

        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in ALWAYS if n not in names]
                if not docs and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", BOARD_CSP.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, add_headers)
