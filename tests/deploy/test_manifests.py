"""The Kubernetes manifests and the image say what the code does: probes on the port the
process serves them on, one schedule syncer, drains shorter than the grace period,
secrets from files that exist as settings, definitions that load from a ConfigMap volume
exactly as the kubelet lays it out. The schema, checkov and hadolint checks run in
``make lint-deploy``; these are the facts no linter knows."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from activity_core.cli import build_parser
from activity_core.codec import KEYS_FILE_ENV
from activity_core.loader import load_definitions
from activity_core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "deploy" / "kubernetes" / "base"
OVERLAY = REPO / "deploy" / "kubernetes" / "overlays" / "temporal-cloud"
ROLES = {"worker": 2, "watchdog": 1, "router": 2, "api": 2}


def _docs(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return _docs(BASE)


def _env(docs: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = _by_kind(docs, "ConfigMap")["actcore-env"]["data"]
    return data


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_each_role_runs_its_command_with_its_replicas_and_one_syncer(
    docs: list[dict[str, Any]],
) -> None:
    deployments = _by_kind(docs, "Deployment")
    assert {n.removeprefix("actcore-"): d["spec"]["replicas"] for n, d in deployments.items()} == (
        ROLES
    )
    parser = build_parser()
    syncers = []
    for name, d in deployments.items():
        container = _container(d)
        args = parser.parse_args(container["args"])  # a typo in a command fails here
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        if args.command == "worker" and env.get("ACTCORE_SKIP_SCHEDULE_SYNC") != "true":
            syncers.append(name)
    assert syncers == ["actcore-watchdog"]
    watchdog = deployments["actcore-watchdog"]
    assert watchdog["spec"]["strategy"]["type"] == "Recreate"  # never two syncing at once
    jobs = _by_kind(docs, "Job")
    assert parser.parse_args(_container(jobs["actcore-setup"])["args"]).command == "setup"


def test_probes_hit_the_port_the_process_serves_them_on_and_the_drain_fits(
    docs: list[dict[str, Any]],
) -> None:
    env = _env(docs)
    health_port = int(env["ACTCORE_HEALTH_BIND_ADDR"].rpartition(":")[2])
    metrics_port = int(env["ACTCORE_PROMETHEUS_BIND_ADDR"].rpartition(":")[2])
    drain = float(env["ACTCORE_GRACEFUL_SHUTDOWN_SECONDS"])
    for name, d in _by_kind(docs, "Deployment").items():
        container = _container(d)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["health"] == health_port, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
        if name != "actcore-api":  # the API has no Temporal runtime, so no metrics port
            assert ports["metrics"] == metrics_port, name
        grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        # SIGTERM, the activities' time, the SDK's own shutdown: all before SIGKILL.
        assert grace >= drain + 15, name


def test_every_role_has_a_budget_and_the_services_find_their_pods(
    docs: list[dict[str, Any]],
) -> None:
    deployments = _by_kind(docs, "Deployment")
    budgets = _by_kind(docs, "PodDisruptionBudget")
    for name, d in deployments.items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        budget = budgets[name]["spec"]["selector"]["matchLabels"]
        assert budget.items() <= labels.items(), name
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
    services = _by_kind(docs, "Service")
    api_labels = deployments["actcore-api"]["spec"]["template"]["metadata"]["labels"]
    assert services["actcore-api"]["spec"]["selector"].items() <= api_labels.items()
    for name in ("actcore-worker", "actcore-watchdog", "actcore-router"):
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert services["actcore-metrics"]["spec"]["selector"].items() <= labels.items()


def test_every_setting_in_the_config_exists_and_secret_files_are_mounted(
    docs: list[dict[str, Any]],
) -> None:
    env = _env(docs)
    known = {f"ACTCORE_{n.upper()}" for n in Settings.model_fields}
    for info in Settings.model_fields.values():
        for choice in getattr(info.validation_alias, "choices", []):
            known.add(str(choice))
    secret_fields = {
        f"ACTCORE_{n.upper()}_FILE"
        for n, i in Settings.model_fields.items()
        if "SecretStr" in str(i.annotation)
    }
    # Read by the Temporal SDK's envconfig and by the payload codec, not by Settings.
    others = {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", KEYS_FILE_ENV}
    unknown = [k for k in env if k not in known | secret_fields | others]
    assert unknown == []
    worker = _container(_by_kind(docs, "Deployment")["actcore-worker"])
    mounts = {m["mountPath"] for m in worker["volumeMounts"]}
    for key, value in env.items():
        if key.endswith("_FILE"):
            assert str(Path(value).parent) in mounts, f"{key}={value} is not on a mounted volume"
    # The root filesystem is read-only: every path the process writes is a mount.
    writes = [env["ACTCORE_HOME"], env["ACTCORE_WORKING_MEMORY_DIR"], "/tmp"]
    assert all(w in mounts for w in writes)
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True


def _kubelet_volume(root: Path, files: dict[str, str], stamp: str) -> None:
    """A ConfigMap volume as the kubelet writes it: the files in a timestamped directory,
    ``..data`` pointing at it, and each top-level name a link through ``..data``."""
    root.mkdir(exist_ok=True)
    target = root / f"..{stamp}"
    for name, text in files.items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    tmp = root / "..data_tmp"
    tmp.symlink_to(target.name)
    os.replace(tmp, root / "..data")  # the kubelet's atomic swap
    for top in {name.split("/")[0] for name in files}:
        link = root / top
        if not link.is_symlink():
            link.symlink_to(f"..data/{top}")


def test_definitions_load_from_the_configmap_volume_as_the_kubelet_lays_it_out(
    docs: list[dict[str, Any]], tmp_path: Path
) -> None:
    maps = _by_kind(docs, "ConfigMap")
    definitions = maps["actcore-definitions"]["data"]
    event_types = maps["actcore-event-types"]["data"]
    # The shipped ConfigMaps are the repository's files (they cannot drift apart).
    assert definitions == {p.name: p.read_text() for p in (REPO / "definitions").glob("*.yaml")}
    assert event_types == {
        p.name: p.read_text() for p in (REPO / "definitions" / "event-types").glob("*.yaml")
    }
    worker = _by_kind(docs, "Deployment")["actcore-worker"]
    volume = next(
        v for v in worker["spec"]["template"]["spec"]["volumes"] if v["name"] == "definitions"
    )
    projected: dict[str, str] = {}
    for source in volume["projected"]["sources"]:
        data = maps[source["configMap"]["name"]]["data"]
        items = source["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        assert {i["key"] for i in items} == set(data), "every event type is projected"
        projected |= {i["path"]: data[i["key"]] for i in items}
    mount = tmp_path / "definitions"
    _kubelet_volume(mount, projected, "2026_12_03_07_00_00.1")
    loaded = load_definitions(mount)
    expected = load_definitions(REPO / "definitions")
    assert sorted(d.name for d in loaded.definitions) == sorted(
        d.name for d in expected.definitions
    )
    assert [t.name for t in loaded.event_types] == [t.name for t in expected.event_types]
    assert loaded.errors == []
    # An edit to the ConfigMap arrives as a new directory and a swapped link.
    changed = dict(projected)
    changed["hourly-heartbeat.yaml"] = changed["hourly-heartbeat.yaml"].replace(
        "name: hourly-heartbeat", "name: hourly-heartbeat-v2"
    )
    _kubelet_volume(mount, changed, "2026_12_03_08_00_00.2")
    names = {d.name for d in load_definitions(mount).definitions}
    assert "hourly-heartbeat-v2" in names and "hourly-heartbeat" not in names


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (kustomize rendering)")
@pytest.mark.parametrize("directory", [BASE, OVERLAY], ids=["base", "temporal-cloud"])
def test_kustomize_renders_and_the_result_validates(directory: Path) -> None:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    for doc in rendered:
        kubernetes_validate.validate(doc, "1.32.0", strict=True)
        assert doc["metadata"].get("namespace", "activity-core") == "activity-core"
    pods = [d["spec"]["template"]["spec"] for d in rendered if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 5
    if directory == OVERLAY:
        env = _by_kind(rendered, "ConfigMap")["actcore-env"]["data"]
        assert env["TEMPORAL_CONFIG_FILE"] == "/etc/actcore/temporal/temporal.toml"
        for pod in pods:
            assert "temporal-cloud" in [v["name"] for v in pod["volumes"]]
            mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
            assert str(Path(env["TEMPORAL_CONFIG_FILE"]).parent) in mounts


def test_the_image_runs_as_a_numeric_user_and_copies_only_what_it_ignores_not() -> None:
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    lines = [x.strip() for x in dockerfile.splitlines()]
    users = [x.split()[1] for x in lines if x.startswith("USER ")]
    assert users and all(u.split(":")[0].isdigit() and u != "0" for u in users)
    assert any(x.startswith('ENTRYPOINT ["actcore"]') for x in lines)
    assert sum(x.startswith("FROM ") for x in lines) == 2  # build and runtime stages
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {x[1:].rstrip("/") for x in ignore if x.startswith("!")}
    sources: list[str] = []
    for x in lines:
        if x.startswith("COPY ") and "--from=" not in x:
            sources += [s for s in x.split()[1:-1] if not s.startswith("--")]
    assert sources and set(sources) <= allowed, set(sources) - allowed
    for source in sources:
        assert (REPO / source).exists(), source
