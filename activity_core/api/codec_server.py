"""The codec server: the Temporal Web UI and the ``temporal`` CLI read sealed payloads
through it (``/decode``; ``/encode`` for payloads they send), with the process's
``ACTCORE_CODEC_KEYS``. The keys never leave it.

Point the UI at it (``temporal server start-dev --ui-codec-endpoint URL``, or the UI's
"Codec Server" setting) and the CLI (``temporal workflow show --codec-endpoint URL``).
CORS admits only the UI's origin (``ACTCORE_CODEC_UI_ORIGINS``); with
``ACTCORE_CODEC_SERVER_TOKEN`` set, a request must carry it as a bearer token (the UI
sends the user's token when "pass access token" is on).
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from temporalio.api.common.v1 import Payloads

from activity_core.api.headers import SecurityHeaders
from activity_core.codec import CodecKeyError, EncryptionCodec


def create_codec_app(
    codec: EncryptionCodec, origins: list[str], token: str | None = None
) -> FastAPI:
    """The ``/encode`` and ``/decode`` endpoints for ``codec``."""
    app = FastAPI(
        title="activity-core codec server", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["POST"],
        allow_headers=["content-type", "x-namespace", "authorization"],
        allow_credentials=True,
    )

    def refused(request: Request) -> JSONResponse | None:
        if token is None:
            return None
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return JSONResponse({"detail": "missing or wrong bearer token"}, status_code=401)

    async def payloads_of(request: Request) -> Payloads | JSONResponse:
        try:
            body: Any = await request.json()
            return ParseDict(body, Payloads())
        except (ValueError, ParseError) as exc:
            return JSONResponse(
                {"detail": f"expected {{'payloads': [...]}} as protobuf JSON: {exc}"[:300]},
                status_code=400,
            )

    @app.post("/encode")
    async def encode(request: Request) -> Any:
        bad = refused(request)
        if bad is not None:
            return bad
        parsed = await payloads_of(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        sealed = await codec.encode(list(parsed.payloads))
        return MessageToDict(Payloads(payloads=sealed))

    @app.post("/decode")
    async def decode(request: Request) -> Any:
        bad = refused(request)
        if bad is not None:
            return bad
        parsed = await payloads_of(request)
        if isinstance(parsed, JSONResponse):
            return parsed
        try:
            opened = await codec.decode(list(parsed.payloads))
        except CodecKeyError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        return MessageToDict(Payloads(payloads=opened))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"ok": True, "keys": len(codec.key_ids)}

    return app
