"""With codec keys, Temporal stores ciphertext: the raw history of a run and of its
delivery holds no report text, while a client with the keys reads everything; keys
rotate without losing old histories, and encrypted histories replay."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activity_core.codec import (
    ENCODING,
    CodecKeyError,
    EncryptionCodec,
    codec_from_env,
    new_key,
    parse_keys,
    with_codec,
)
from activity_core.dev.statehub import StateHub
from activity_core.domain import DeliveryState
from activity_core.temporal_client import connect_config
from tests.helpers import running_stack
from workflows.registry import ALL_WORKFLOWS

MARKER = "Quarterly-payroll-of-Ada-Lovelace"
KEY_A, KEY_B = new_key(), new_key()


def _client(env: WorkflowEnvironment, codec: EncryptionCodec | None) -> Client:
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=with_codec(pydantic_data_converter, codec),
    )


async def _stored_bytes(env: WorkflowEnvironment, workflow_id: str) -> bytes:
    """Every payload's bytes and metadata as the server stores them (fetched without a
    codec)."""
    history = await _client(env, None).get_workflow_handle(workflow_id).fetch_history()
    found: list[bytes] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "data" and isinstance(value, str):
                    found.append(base64.b64decode(value))
                elif key == "metadata" and isinstance(value, dict):
                    found.extend(base64.b64decode(v) for v in value.values() if isinstance(v, str))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(history.to_json()))
    return b"\n".join(found)


@pytest.mark.parametrize("sealed", [True, False], ids=["with-keys", "without-keys"])
async def test_run_and_delivery_histories_hold_only_ciphertext(
    env: WorkflowEnvironment, tmp_path: Path, sealed: bool
) -> None:
    codec = EncryptionCodec(parse_keys(f"a:{KEY_A}")) if sealed else None
    hub = StateHub().start()
    try:
        async with running_stack(env, _client(env, codec), tmp_path) as stack:
            stack.settings.state_hub_url = hub.url
            sink = {"type": "state_hub_progress", "event_type": "secret_report", "url": hub.url}
            stack.define(
                "payroll",
                handler="static_report",
                params={"title": MARKER, "body": f"owner {MARKER}"},
                sinks=[sink],
            )
            result = await stack.run("payroll")
            delivery = stack.delivery(result.run_id, "state_hub")
            final = await delivery.result()
            assert final.state == DeliveryState.DELIVERED
            for workflow_id in (result.run_id, delivery.id):
                stored = await _stored_bytes(env, workflow_id)
                # Without keys the report is there to read; with them, nowhere.
                assert (MARKER.encode() in stored) is not sealed, workflow_id
                assert (ENCODING in stored) is sealed
                history = await _client(env, codec).get_workflow_handle(workflow_id).fetch_history()
                replayer = Replayer(
                    workflows=ALL_WORKFLOWS,
                    data_converter=with_codec(pydantic_data_converter, codec),
                )
                await replayer.replay_workflow(history)
            if codec is not None:
                # With the keys, everything reads: the delivery's input is the report.
                history = await _client(env, codec).get_workflow_handle(delivery.id).fetch_history()
                started = history.events[0].workflow_execution_started_event_attributes
                opened = await codec.decode(list(started.input.payloads))
                assert MARKER in b"".join(p.data for p in opened).decode()
        # The sink itself got the plain report.
        assert MARKER in json.dumps(hub.events())
    finally:
        hub.stop()


async def test_keys_rotate_without_losing_what_the_old_key_sealed() -> None:
    old = EncryptionCodec(parse_keys(f"a:{KEY_A}"))
    rotated = EncryptionCodec(parse_keys(f"b:{KEY_B},a:{KEY_A}"))
    only_new = EncryptionCodec(parse_keys(f"b:{KEY_B}"))
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
    [sealed_a] = await old.encode([plain])
    [sealed_b] = await rotated.encode([plain])
    assert sealed_a.metadata["encryption-key-id"] == b"a"
    assert sealed_b.metadata["encryption-key-id"] == b"b"  # the first key seals
    assert await rotated.decode([sealed_a, sealed_b, plain]) == [plain, plain, plain]
    with pytest.raises(CodecKeyError, match="key 'a', which this process does not have"):
        await only_new.decode([sealed_a])
    tampered = Payload()
    tampered.CopyFrom(sealed_b)
    tampered.data = sealed_b.data[:-1] + bytes([sealed_b.data[-1] ^ 1])
    with pytest.raises(CodecKeyError, match="does not open"):
        await rotated.decode([tampered])
    # The key id is bound in: relabelling a payload as sealed by another key fails.
    relabelled = Payload()
    relabelled.CopyFrom(sealed_a)
    relabelled.metadata["encryption-key-id"] = b"b"
    with pytest.raises(CodecKeyError):
        await rotated.decode([relabelled])


def test_bad_keys_are_named_by_id_never_shown(tmp_path: Path) -> None:
    short = base64.b64encode(b"x" * 16).decode()
    cases = {
        f"a:{short}": "key 'a' is 16 bytes; AES-256 needs 32",
        "a:not base64!": "key 'a' is not base64",
        KEY_A: "entry 1 is not `id:base64key`",
        f"a:{KEY_A},a:{KEY_B}": "key id 'a' is listed twice",
    }
    for text, message in cases.items():
        with pytest.raises(CodecKeyError, match=message) as caught:
            parse_keys(text)
        assert KEY_A not in str(caught.value) and short not in str(caught.value)
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"k1:{KEY_A}\n")
    codec = codec_from_env({"ACTCORE_CODEC_KEYS_FILE": str(keys_file)})
    assert codec is not None and codec.key_ids == ["k1"]
    assert codec_from_env({}) is None
    # Every client built from the environment seals.
    converter = connect_config({"ACTCORE_CODEC_KEYS": f"k1:{KEY_A}"})["data_converter"]
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert connect_config({})["data_converter"].payload_codec is None
