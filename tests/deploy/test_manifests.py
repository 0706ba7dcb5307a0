"""The deployment files agree with the code: deploy/kubernetes/*.yaml, the
scale-out profile of compose.yaml and deploy/haproxy/haproxy.cfg. Probes hit
routes the server answers without a key, ports are the image's, every variable
they set is one muxi (or its entrypoint) reads, the URLs parse, and HAProxy
accepts its config. Nothing here needs a cluster or a container engine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from muxi_cli.config.schema import Formation
from muxi_cli.server.context import ServerSettings
from muxi_cli.stores import lance_uri
from muxi_cli.stores.media import URL_ENV as MEDIA_ENV
from muxi_cli.stores.media_s3 import parse_url
from muxi_cli.stores.server_keys import KeyStore
from tests.cluster.rig import HAPROXY_CFG, haproxy_binary
from tests.container.support import ENTRYPOINT, ROOT, image_env

K8S = ROOT / "deploy" / "kubernetes"
HAPROXY = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
COMPOSE = ROOT / "compose.yaml"
#: Read by LanceDB and the S3 client from the environment.
AWS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION"}
#: Read by uvicorn, the server muxi serve runs on: whose X-Forwarded-For to trust.
UVICORN = {"FORWARDED_ALLOW_IPS"}


def _docs() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            docs[doc["kind"]] = doc
    return docs


def _read_by_muxi(name: str) -> bool:
    """Whether muxi's code or the image's entrypoint reads the variable ``name``."""
    if name in AWS or name in UVICORN:
        return True
    if name in ENTRYPOINT.read_text(encoding="utf-8"):
        return True
    pattern = re.compile(rf"[\"']{re.escape(name)}[\"']")
    return any(
        pattern.search(p.read_text(encoding="utf-8")) for p in (ROOT / "muxi_cli").rglob("*.py")
    )


def _check_urls(env: dict[str, str]) -> None:
    lance_uri.parse(env["MUXI_MEMORY_URI"])  # raises on a malformed one
    assert lance_uri.parse(env["MUXI_MEMORY_URI"]).remote
    parse_url(env[MEDIA_ENV])


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert set(_docs()) == {
        "Secret", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }  # fmt: skip


def test_probes_ports_and_grace_agree_with_the_server(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from muxi_cli.server.app import create_app
    from tests.server.fakeruntime import FakeRuntime

    docs = _docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    port = int(image_env()["MUXI_SERVE_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
    assert (live["path"], live["port"]) == ("/health", "http")
    assert (ready["path"], ready["port"]) == ("/ready", "http")
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    # Both answer without a key (probes send none), /ready with what it checked.
    app = create_app(FakeRuntime(), KeyStore(tmp_path / "keys.json"), access_log=False)
    with TestClient(app) as client:
        assert client.get(live["path"]).json()["ok"] is True
        assert client.get(ready["path"]).json()["ready"] is True
    service = docs["Service"]["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
    # SIGTERM after the preStop pause; then --grace for running turns; then SIGKILL.
    args = container["args"]
    assert args[0] == "serve"
    grace = float(args[args.index("--grace") + 1]) if "--grace" in args else (
        ServerSettings().shutdown_grace
    )  # fmt: skip
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["terminationGracePeriodSeconds"] >= pause + grace + 5
    # The image's user, never root.
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["securityContext"]["runAsNonRoot"]


def test_every_variable_set_is_one_muxi_reads() -> None:
    docs = _docs()
    secret_keys = set(docs["Secret"]["stringData"])
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"secretRef": {"name": docs["Secret"]["metadata"]["name"]}}]
    set_names = secret_keys | {e["name"] for e in container["env"]}
    unread = {n for n in set_names if not _read_by_muxi(n)}
    assert unread == set()
    assert lance_uri.URI_ENV == "MUXI_MEMORY_URI" and MEDIA_ENV == "MUXI_MEDIA_URL"
    # Values from the ConfigMap name its keys; the URLs there parse.
    config = docs["ConfigMap"]
    for env in container["env"]:
        ref = env.get("valueFrom", {}).get("configMapKeyRef")
        if ref is not None:
            assert ref["name"] == config["metadata"]["name"] and ref["key"] in config["data"]
    _check_urls(config["data"])
    # The formation the ConfigMap carries loads.
    Formation.model_validate(yaml.safe_load(config["data"]["muxi.yaml"]))
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert f"{mounts['formation']}/muxi.yaml" == image_env()["MUXI_CONFIG"]


def test_the_secret_placeholders_cannot_go_live() -> None:
    """A Secret applied unchanged must not start: the pinned admin key placeholder
    is refused, and every value says to replace it."""
    from muxi_cli.stores.server_keys import pinned_key_problem

    values = _docs()["Secret"]["stringData"]
    assert pinned_key_problem(values["MUXI_ADMIN_KEY"]) is not None
    assert all("replace-me" in value for value in values.values())


def test_the_autoscaler_and_the_disruption_budget_fit_the_deployment() -> None:
    docs = _docs()
    deployment = docs["Deployment"]
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]
    }  # fmt: skip
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["requests"]["cpu"]  # CPU utilisation needs a request
    pdb = docs["PodDisruptionBudget"]["spec"]
    assert pdb["minAvailable"] < hpa["minReplicas"] <= deployment["spec"]["replicas"]
    assert pdb["selector"] == deployment["spec"]["selector"]


def test_the_compose_scale_out_profile_agrees_with_the_code() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    replica, lb = services["replica"], services["lb"]
    env = replica["environment"]
    _check_urls(env)
    named = {n.removesuffix("_FILE") for n in [*env, *env["MUXI_SECRET_VARS"].split()]}
    assert {n for n in named if not _read_by_muxi(n)} == set()
    assert "ports" not in replica  # clients go through the balancer
    assert replica["deploy"]["replicas"] >= 2
    assert replica["healthcheck"]["test"] == ["CMD", "muxi-healthcheck"]
    # Secret files mounted for the _FILE variables exist as compose secrets.
    for name, value in env.items():
        if name.endswith("_FILE"):
            assert value.removeprefix("/run/secrets/") in replica["secrets"]
    (mount,) = lb["volumes"]
    source, target = mount.split(":")[:2]
    assert (ROOT / source).resolve() == HAPROXY and target.endswith("haproxy.cfg")
    port = image_env()["MUXI_SERVE_PORT"]
    assert re.search(rf"server-template replica \d+ replica:{port} check", HAPROXY.read_text())


@pytest.mark.parametrize("setting", [
    "option httpchk GET /ready", "http-check expect status 200", "balance roundrobin",
    "option http-server-close", "option http-no-delay", "retry-on conn-failure empty-response 503", "timeout tunnel 1h", "timeout check 4s",
])  # fmt: skip
def test_the_balancer_config_is_the_tested_one(setting: str) -> None:
    """The settings the cluster tests run HAProxy with are the deployed ones."""
    assert setting in HAPROXY.read_text() and setting in HAPROXY_CFG


def test_haproxy_accepts_the_deployed_config() -> None:
    result = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(HAPROXY)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
