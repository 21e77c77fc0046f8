"""deploy/k8s and deploy/compose.yaml: what can be proven without a cluster or a Docker engine.

Every manifest is validated against the Kubernetes API's own JSON schemas (shipped offline in
kubernetes-validate, strict: an unknown or misspelt field fails), for the oldest and the newest
Kubernetes version we claim. Then the wiring that schemas cannot see: probes on the right
paths and ports, Services and budgets that select pods that exist, the Secret that the
configuration's env:NAME references need, and the embedded configurations loading with
`worker.settings.load_settings`. What this cannot show: that the images pull, that the
cluster's admission and network plugins accept it, or that the External queue metric exists.
"""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from invoicebridge.cli import build_parser
from tests.deploy_lint import DEPLOY, secret_refs
from worker.settings import load_settings

K8S = DEPLOY / "k8s"
OLDEST_KUBERNETES = "1.29"
Obj = dict[str, Any]


def _load_manifests() -> list[Obj]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects: list[Obj] = []
    for name in kustomization["resources"]:
        objects += [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return objects


OBJECTS = _load_manifests()


def of_kind(kind: str) -> list[Obj]:
    return [obj for obj in OBJECTS if obj["kind"] == kind]


def named(kind: str, name: str) -> Obj:
    found = [obj for obj in of_kind(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"one {kind} {name}"
    return found[0]


def workloads() -> list[Obj]:
    return of_kind("Deployment") + of_kind("StatefulSet") + of_kind("CronJob")


def ours() -> list[Obj]:
    """The workloads that run invoicebridge itself (not Redis)."""
    return of_kind("Deployment") + of_kind("CronJob")


def pod_template(workload: Obj) -> Obj:
    spec = workload["spec"]
    template: Obj = (
        spec["jobTemplate"]["spec"]["template"] if "jobTemplate" in spec else spec["template"]
    )
    return template


def containers(workload: Obj) -> list[Obj]:
    result: list[Obj] = pod_template(workload)["spec"]["containers"]
    return result


def port_number(container: Obj, port: int | str) -> int:
    """A probe's or Service's port, named or numbered, as the container declares it."""
    for declared in container.get("ports", []):
        if port in (declared.get("name"), declared["containerPort"]):
            return int(declared["containerPort"])
    raise AssertionError(f"{container['name']} declares no port {port!r}")


def selected(selector: dict[str, str]) -> list[Obj]:
    """The workloads whose pods carry every label of `selector`."""
    return [
        w for w in workloads() if selector.items() <= pod_template(w)["metadata"]["labels"].items()
    ]


def config_toml() -> str:
    text: str = named("ConfigMap", "invoicebridge-config")["data"]["config.toml"]
    return text


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_manifest_matches_the_kubernetes_schema(obj: Obj, version: str) -> None:
    kubernetes_validate.validate(obj, version, strict=True)


def test_objects_are_named_and_namespace_free() -> None:
    names = [(o["kind"], o["metadata"]["name"]) for o in OBJECTS]
    assert len(names) == len(set(names))
    for obj in OBJECTS:
        assert "namespace" not in obj["metadata"], "the namespace is chosen at apply time"
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "invoicebridge"


@pytest.mark.parametrize("workload", workloads(), ids=lambda w: w["metadata"]["name"])
def test_workloads_run_locked_down_with_limits(workload: Obj) -> None:
    spec, template = workload["spec"], pod_template(workload)
    if "selector" in spec:  # a CronJob's pods are its own
        assert spec["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    pod = template["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"]:
        image = container["image"]
        assert re.search(r":\d[\w.-]*$", image) and not image.endswith(":latest"), image
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert "memory" in container["resources"]["limits"]
        mounted = {m["name"] for m in container.get("volumeMounts", [])}
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        assert mounted <= {v["name"] for v in pod.get("volumes", [])} | claims


def test_receiver_probes_and_graceful_shutdown() -> None:
    pod = named("Deployment", "invoicebridge-receiver")["spec"]["template"]["spec"]
    (receiver,) = pod["containers"]
    port = int(receiver["args"][receiver["args"].index("--port") + 1])
    ready, live = receiver["readinessProbe"]["httpGet"], receiver["livenessProbe"]["httpGet"]
    assert (ready["path"], port_number(receiver, ready["port"])) == ("/readyz", port)
    assert (live["path"], port_number(receiver, live["port"])) == ("/healthz", port)
    sleep = receiver["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    shutdown_timeout = 30  # invoicebridge/serve.py: SHUTDOWN_TIMEOUT_S
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + shutdown_timeout
    assert named("Deployment", "invoicebridge-receiver")["spec"]["replicas"] >= 2


def test_worker_probes_its_metrics_port_and_outlives_its_shutdown_timeout() -> None:
    pod = named("Deployment", "invoicebridge-worker")["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    metrics = tomllib.loads(config_toml())["metrics"]
    assert metrics["worker_host"] == "0.0.0.0"  # noqa: S104 (the kubelet's TCP probe reaches it)
    for probe in ("livenessProbe", "readinessProbe"):
        assert port_number(worker, worker[probe]["tcpSocket"]["port"]) == metrics["worker_port"]
    args = worker["args"]
    assert args[0] == "worker"
    shutdown_timeout = float(args[args.index("--shutdown-timeout") + 1])
    assert pod["terminationGracePeriodSeconds"] > shutdown_timeout


@pytest.mark.parametrize("service", of_kind("Service"), ids=lambda s: s["metadata"]["name"])
def test_services_select_pods_and_their_ports(service: Obj) -> None:
    targets = selected(service["spec"]["selector"])
    assert targets, "selects no pods"
    for port in service["spec"]["ports"]:
        for workload in targets:
            assert any(port_number(c, port["targetPort"]) for c in containers(workload))


def test_statefulset_is_governed_by_a_headless_service() -> None:
    for statefulset in of_kind("StatefulSet"):
        service = named("Service", statefulset["spec"]["serviceName"])
        assert service["spec"]["clusterIP"] == "None"


def test_every_deployment_has_a_disruption_budget_that_selects_it() -> None:
    budgeted = []
    for budget in of_kind("PodDisruptionBudget"):
        pods = selected(budget["spec"]["selector"]["matchLabels"])
        assert pods, f"{budget['metadata']['name']} selects no pods"
        budgeted += [w["metadata"]["name"] for w in pods]
    assert {d["metadata"]["name"] for d in of_kind("Deployment")} <= set(budgeted)


def test_autoscaler_scales_the_workers_on_queue_depth() -> None:
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "invoicebridge-worker")
    named("Deployment", target["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["external"]["metric"]["name"] == "invoicebridge_queue_messages"
    # the autoscaler owns the worker count; a replicas field would fight it on every apply
    assert "replicas" not in named("Deployment", "invoicebridge-worker")["spec"]


def test_config_and_secret_are_mounted_and_cover_every_reference(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = named("Secret", "invoicebridge-secrets")["stringData"]
    assert all("FAKE" in value for value in secret.values()), "placeholders only"
    assert secret_refs(config_toml(), "env") <= secret.keys()
    for workload in ours():
        pod = pod_template(workload)["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["config"]["configMap"]["name"] == "invoicebridge-config"
        for container in pod["containers"]:
            refs = [ref["secretRef"]["name"] for ref in container["envFrom"]]
            assert refs == ["invoicebridge-secrets"]
    for name, value in secret.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "config.toml").write_text(config_toml())
    settings = load_settings(tmp_path / "config.toml")
    redis = named("Service", "invoicebridge-redis")
    assert settings.redis.url.startswith(f"redis://{redis['metadata']['name']}:6379/")


def test_images_are_the_ones_kustomize_rewrites() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    rewritten = {image["name"] for image in kustomization["images"]}
    for workload in ours():
        for container in containers(workload):
            assert container["image"].rpartition(":")[0] in rewritten


def test_the_retention_cronjob_prunes_daily_one_at_a_time() -> None:
    cron = named("CronJob", "invoicebridge-prune")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = containers(cron)
    args = container["args"]
    assert args[:3] == ["jobs", "prune", "--before"] and "--yes" in args
    parsed = build_parser().parse_args(args)  # the real CLI takes these arguments
    assert parsed.yes and parsed.before < time.time() - 30 * 86_400
    assert pod_template(cron)["spec"]["restartPolicy"] == "Never"


def test_redis_network_policy_admits_invoicebridge_pods() -> None:
    (policy,) = of_kind("NetworkPolicy")
    assert selected(policy["spec"]["podSelector"]["matchLabels"]) == of_kind("StatefulSet")
    (rule,) = policy["spec"]["ingress"]
    allowed = rule["from"][0]["podSelector"]["matchLabels"]
    assert {d["metadata"]["name"] for d in selected(allowed)} >= {
        d["metadata"]["name"] for d in ours()
    }
