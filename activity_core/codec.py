"""Payload encryption: what Temporal stores of a run is ciphertext.

Reports carry work items, owners and free text; without a codec they sit in clear text
in Temporal's history (run results, delivery inputs, alert bodies), its database, its
backups and its Web UI. With keys configured, every payload the SDK sends (inputs,
results, signals, queries, heartbeat details, and failure messages, which the failure
converter moves into an encoded payload) is sealed with AES-256-GCM before it leaves
the process and opened when it comes back.

Keys: ``ACTCORE_CODEC_KEYS`` (or ``ACTCORE_CODEC_KEYS_FILE``), ``id:base64key`` pairs
separated by commas or new lines. The first key seals; every key listed opens, and the key
id travels in each payload's metadata, so rotating is: put the new key first, keep the
old ones until no open workflow (and no history you still read) uses them. Payloads that
were never sealed pass through, so turning the codec on keeps running workflows readable.
Off unless keys are configured; the dev stack turns it on with a generated key.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from activity_core.errors import ActivityCoreError

KEYS_ENV = "ACTCORE_CODEC_KEYS"
KEYS_FILE_ENV = "ACTCORE_CODEC_KEYS_FILE"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12


class CodecKeyError(ActivityCoreError, ValueError):
    """The keys are malformed, or a payload was sealed with a key this process lacks."""


def parse_keys(text: str) -> dict[str, bytes]:
    """``id:base64key`` pairs (commas or new lines) -> ordered ``{id: 32-byte key}``.

    Raises:
        CodecKeyError: An entry is malformed (names the entry by its id, never the key).
    """
    keys: dict[str, bytes] = {}
    for n, entry in enumerate(text.replace(",", "\n").splitlines(), start=1):
        entry = entry.strip()
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not key_id.isascii() or not key_id.isprintable():
            raise CodecKeyError(
                f"{KEYS_ENV}: entry {n} is not `id:base64key` (e.g. "
                "2026-12:<32 random bytes in base64>, made by `actcore codec new-key`)"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"{KEYS_ENV}: key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise CodecKeyError(f"{KEYS_ENV}: key {key_id!r} is {len(key)} bytes; AES-256 needs 32")
        if key_id in keys:
            raise CodecKeyError(f"{KEYS_ENV}: key id {key_id!r} is listed twice")
        keys[key_id] = key
    return keys


def keys_from_env(env: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """The configured keys (none: the codec is off).

    Raises:
        CodecKeyError: They are malformed or the key file cannot be read.
    """
    environ = os.environ if env is None else env
    text = environ.get(KEYS_ENV, "")
    path = environ.get(KEYS_FILE_ENV)
    if not text.strip() and path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CodecKeyError(f"{KEYS_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
    return parse_keys(text)


def new_key() -> str:
    """A fresh key, base64 (32 random bytes)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each serialised payload; the key id is metadata and bound in as
    associated data, so a payload cannot be passed off as sealed by another key."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise CodecKeyError(f"{KEYS_ENV}: no key given")
        self._keys = {k: AESGCM(v) for k, v in keys.items()}
        self._current = next(iter(keys))

    @property
    def key_ids(self) -> list[str]:
        """The keys this codec opens; the first seals."""
        return list(self._keys)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Seal every payload with the first key."""
        aead = self._keys[self._current]
        out = []
        for payload in payloads:
            nonce = os.urandom(_NONCE)
            sealed = aead.encrypt(nonce, payload.SerializeToString(), self._current.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Open sealed payloads (any listed key); pass the others through.

        Raises:
            CodecKeyError: A payload was sealed with a key not listed, or was altered.
        """
        out = []
        for payload in payloads:
            if payload.metadata.get("encoding") != ENCODING:
                out.append(payload)
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
            aead = self._keys.get(key_id)
            if aead is None:
                raise CodecKeyError(
                    f"payload sealed with key {key_id!r}, which this process does not have: "
                    f"add it to {KEYS_ENV} (after the current key)"
                )
            try:
                opened = aead.decrypt(payload.data[:_NONCE], payload.data[_NONCE:], key_id.encode())
            except InvalidTag:
                raise CodecKeyError(
                    f"payload sealed with key {key_id!r} does not open: altered, or the "
                    "key under that id changed"
                ) from None
            out.append(Payload.FromString(opened))
        return out


def with_codec(converter: DataConverter, codec: PayloadCodec | None) -> DataConverter:
    """``converter`` sealing payloads and failure messages with ``codec`` (None: as is)."""
    if codec is None:
        return converter
    return dataclasses.replace(
        converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec_from_env(env: Mapping[str, str] | None = None) -> EncryptionCodec | None:
    """The codec the environment configures, or None when no key is set.

    Raises:
        CodecKeyError: The keys are malformed.
    """
    keys = keys_from_env(env)
    return EncryptionCodec(keys) if keys else None
