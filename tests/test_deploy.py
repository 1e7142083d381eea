"""``deploy/``: the Kubernetes manifests validate against the Kubernetes schema
(``kubernetes-validate``, strict: no unknown fields), the compose file and HAProxy configuration
hold together, and the fields that make several servers work are set."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from digitlib.config import PROJECT_ROOT
from digitlib.ops.cluster import COOKIE, HEALTH_PATH, check_haproxy_config

DEPLOY = PROJECT_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
#: The oldest Kubernetes the manifests are checked against.
KUBERNETES_VERSION = "1.29"
STORE_KEYS = {
    "DIGITLIB_STORE",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}


def manifests() -> dict[tuple[str, str], dict]:
    """Every resource of the kustomization, by (kind, name)."""
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    found = {}
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


@pytest.mark.parametrize("key", sorted(manifests()), ids=lambda key: f"{key[0]}-{key[1]}")
def test_manifest_validates_against_the_kubernetes_schema(key):
    import kubernetes_validate

    kubernetes_validate.validate(manifests()[key], KUBERNETES_VERSION, strict=True)


def test_the_validator_catches_a_misspelt_field():
    import kubernetes_validate

    broken = copy.deepcopy(manifests()[("Deployment", "digitlib-dashboard")])
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _flags(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--"))


def test_deployment_runs_several_servers_on_the_secret_store():
    found = manifests()
    deployment = found[("Deployment", "digitlib-dashboard")]
    secret = found[("Secret", "digitlib-store")]
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"][:3] == ["python", "-m", "digitlib.dashboard.serve"]
    flags = _flags(container["args"])
    assert flags["host"] == "0.0.0.0" and int(flags["pool-size"]) >= 1
    assert int(flags["cull-idle-seconds"]) > 0
    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert set(secret["stringData"]) == STORE_KEYS
    assert secret["stringData"]["DIGITLIB_STORE"].startswith("s3://")
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == HEALTH_PATH
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert port_names["http"] == int(flags["port"])
    # Rolling updates never take a server away before its replacement is ready.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["metadata"]["labels"] == deployment["spec"]["selector"]["matchLabels"]


def test_service_and_ingress_reach_the_pods_with_cookie_affinity():
    found = manifests()
    deployment = found[("Deployment", "digitlib-dashboard")]
    service = found[("Service", "digitlib-dashboard")]
    ingress = found[("Ingress", "digitlib-dashboard")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-name"] == COOKIE
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] == service["spec"]["ports"][0]["name"]


def test_training_job_names_as_many_workers_as_it_runs():
    found = manifests()
    job = found[("Job", "digitlib-train")]
    service = found[("Service", "digitlib-train")]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["suspend"] is True
    assert spec["completions"] == spec["parallelism"]
    container = spec["template"]["spec"]["containers"][0]
    script = container["args"][0]
    workers = re.findall(r"digitlib-train-(\d+)\.digitlib-train:12345", script)
    assert [int(w) for w in workers] == list(range(spec["completions"]))
    assert "digitlib train --distributed" in script and "${JOB_COMPLETION_INDEX}" in script
    assert spec["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    # The script's TF_CONFIG, with an index filled in, is what digitlib reads.
    from digitlib.training.distributed import WorkerTask

    text = re.search(r'TF_CONFIG="(.*?)"\s*&&', script, re.S).group(1).replace('\\"', '"')
    task = WorkerTask.from_tf_config(text.replace("${JOB_COMPLETION_INDEX}", "1"))
    assert task.count == spec["completions"] and task.index == 1
    json.loads(text.replace("${JOB_COMPLETION_INDEX}", "0"))


def test_compose_runs_replicas_behind_haproxy():
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    dashboard = compose["services"]["dashboard"]
    balancer = compose["services"]["balancer"]
    assert dashboard["deploy"]["replicas"] >= 2
    assert dashboard["command"][:3] == ["python", "-m", "digitlib.dashboard.serve"]
    kubernetes_args = manifests()[("Deployment", "digitlib-dashboard")]["spec"]["template"]
    assert _flags(dashboard["command"]) == _flags(
        kubernetes_args["spec"]["containers"][0]["args"]
    ), "compose and Kubernetes should serve with the same options"
    assert dashboard["env_file"] == "store.env"
    example = (DEPLOY / "compose" / "store.env.example").read_text()
    assert {line.split("=")[0] for line in example.splitlines() if "=" in line} == STORE_KEYS
    assert balancer["image"].startswith("haproxy:")
    assert "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in balancer["volumes"]
    assert (DEPLOY / dashboard["build"]["dockerfile"].removeprefix("deploy/")).exists()


def test_compose_haproxy_config_is_valid_and_sticky(tmp_path: Path):
    path = DEPLOY / "compose" / "haproxy.cfg"
    check_haproxy_config(path)  # HAProxy's own parser
    text = path.read_text()
    assert f"cookie {COOKIE} insert" in text and "dynamic" in text
    assert f"option httpchk HEAD {HEALTH_PATH}" in text
    replicas = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())["services"][
        "dashboard"
    ]["deploy"]["replicas"]
    slots = int(re.search(r"server-template dash (\d+) dashboard:8866", text).group(1))
    assert slots >= replicas
