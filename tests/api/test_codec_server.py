"""The codec server opens what the workers sealed, for the Web UI's origin only, and
with a token when one is set."""

from __future__ import annotations

import base64
import subprocess
import sys

import httpx
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload, Payloads

from activity_core.api.codec_server import create_codec_app
from activity_core.codec import EncryptionCodec, new_key, parse_keys

UI = "http://127.0.0.1:8233"
KEY = new_key()


def _client(token: str | None = None, keys: str = f"k1:{KEY}") -> httpx.AsyncClient:
    app = create_codec_app(EncryptionCodec(parse_keys(keys)), [UI], token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec")


def _body(*payloads: Payload) -> dict[str, object]:
    return MessageToDict(Payloads(payloads=list(payloads)))


PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"title": "payroll"}')


async def test_what_encode_seals_decode_opens() -> None:
    async with _client() as codec:
        sealed = await codec.post("/encode", json=_body(PLAIN), headers={"X-Namespace": "default"})
        assert sealed.status_code == 200
        [payload] = sealed.json()["payloads"]
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"binary/encrypted"
        assert b"payroll" not in base64.b64decode(payload["data"])
        opened = await codec.post("/decode", json=sealed.json())
        assert opened.json() == _body(PLAIN)
        # Plain payloads (histories from before the codec) pass through.
        assert (await codec.post("/decode", json=_body(PLAIN))).json() == _body(PLAIN)
        junk = await codec.post("/decode", json={"payloads": "nope"})
        assert junk.status_code == 400
    async with _client(keys=f"k2:{new_key()}") as other:
        wrong = await other.post("/decode", json=sealed.json())
        assert wrong.status_code == 422 and "key 'k1'" in wrong.json()["detail"]
        assert KEY not in wrong.text


async def test_only_the_web_uis_origin_may_call_it_cross_origin() -> None:
    async with _client() as codec:
        ask = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-namespace",
        }
        ok = await codec.options("/decode", headers={"Origin": UI, **ask})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == UI
        evil = await codec.options("/decode", headers={"Origin": "https://evil.example", **ask})
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers


async def test_a_token_is_required_when_set() -> None:
    async with _client(token="codec-s3cret") as codec:
        assert (await codec.post("/decode", json=_body(PLAIN))).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await codec.post("/decode", json=_body(PLAIN), headers=wrong)).status_code == 401
        right = {"Authorization": "Bearer codec-s3cret"}
        assert (await codec.post("/decode", json=_body(PLAIN), headers=right)).status_code == 200


def test_new_key_prints_an_entry_the_codec_accepts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "activity_core.cli", "codec", "new-key", "--id", "2026-12"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [entry] = done.stdout.split()
    assert list(parse_keys(entry)) == ["2026-12"]
