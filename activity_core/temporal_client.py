"""Temporal client factory.

Connection settings come from Temporal's standard environment configuration
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, TLS options,
``TEMPORAL_PROFILE`` and the TOML config file). ``TEMPORAL_HOST`` (the name older
runbooks use) is accepted as a fallback for ``TEMPORAL_ADDRESS``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from activity_core.codec import codec_from_env, with_codec


def connect_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for :meth:`Client.connect` from the environment.

    Args:
        env: Environment to read; the process environment by default.

    Returns:
        The connect config, with the pydantic data converter set (sealing payloads when
        ``ACTCORE_CODEC_KEYS`` is set: :mod:`activity_core.codec`).

    Raises:
        CodecKeyError: The codec keys are malformed.
    """
    environ = dict(os.environ if env is None else env)
    if not environ.get("TEMPORAL_ADDRESS") and environ.get("TEMPORAL_HOST"):
        environ["TEMPORAL_ADDRESS"] = environ["TEMPORAL_HOST"]
    config: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(override_env_vars=environ)
    )
    config.setdefault("target_host", "localhost:7233")
    config["data_converter"] = with_codec(pydantic_data_converter, codec_from_env(environ))
    return config


def configured_namespace(env: Mapping[str, str] | None = None) -> str:
    """The namespace :func:`connect` uses (``TEMPORAL_NAMESPACE`` or the profile's)."""
    environ = dict(os.environ if env is None else env)
    config = ClientConfig.load_client_connect_config(override_env_vars=environ)
    return str(config.get("namespace") or "default")


async def connect(
    env: Mapping[str, str] | None = None,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """Connect to Temporal as configured in the environment."""
    config = connect_config(env)
    target = config.pop("target_host")
    if runtime is not None:
        config["runtime"] = runtime
    return await Client.connect(target, interceptors=interceptors, **config)


SINGLE_PARTITION_FLAGS = [
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
]
"""``temporal server start-dev`` flags for one partition per task queue. A queue's rate
limit is split among its partitions, each with its own burst: with the default four, a
sink's queue hands out up to twice its pace in a second. One partition holds it to the
pace; a single-node dev server loses nothing by it. On a cluster, set the same two
values for the sink queues (``docs/runbook.md``)."""
