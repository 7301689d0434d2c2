"""Kubernetes manifests: schemas offline (kubernetes-validate), then what the schemas cannot say.

The raw files are always checked; the kustomize-built stack too where a kustomize (or kubectl)
binary is on PATH.
"""

from __future__ import annotations

import shutil
from typing import Any

import kubernetes_validate
import pytest
import yaml

from medembed_encoder import config

from .manifests import (
    COMPOSE,
    DEPLOY,
    FAMILIES,
    FAMILY_TABLE,
    SETTINGS,
    THIRD_PARTY_ENV,
    encoder_env_names,
    encoder_services,
    environment,
    family_kustomizations,
    kustomize_build,
    kustomize_command,
    load_compose,
    models_of,
    pyproject,
    raw_k8s_documents,
)

# The oldest release with the preStop sleep action on by default, and the newest the package knows.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
CRD_KINDS = {"ScaledObject": "keda.sh/v1alpha1", "ServiceMonitor": "monitoring.coreos.com/v1"}
# Schema checks are CPU only (2.5 s here at load 10, 15 s at load 21): pytest's 300 s per test is their
# only time limit, which a machine thrashing under several suites' encoders can pass.
SCHEMA_CHECK_LIMIT_S = 1200
needs_kustomize = pytest.mark.skipif(kustomize_command() is None, reason="no kustomize or kubectl binary here")
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def built() -> list[Doc]:
    return kustomize_build(DEPLOY)


@pytest.fixture(scope="module")
def built_with_hpa(tmp_path_factory) -> list[Doc]:
    """The stack with every family switched to the plain-HPA component, as its comment says to do."""
    copy = tmp_path_factory.mktemp("hpa") / "deploy"
    shutil.copytree(DEPLOY, copy)
    for path in (copy / "k8s" / "families").glob("*/kustomization.yaml"):
        path.write_text(path.read_text().replace("../../components/keda", "../../components/hpa"))
    return kustomize_build(copy)


def _kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _named(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name)


def _encoders(docs: list[Doc]) -> list[Doc]:
    return [d for d in _kind(docs, "Deployment") if d["metadata"]["name"].startswith("encoder")]


def _container(deployment: Doc) -> Doc:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _env(container: Doc) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


# --- checks shared by the raw files and the built stack -------------------------------------------

def check_schemas(docs: list[Doc]) -> None:
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == CRD_KINDS[doc["kind"]] and doc["metadata"]["name"] and doc["spec"]
            continue
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def check_encoder_deployments(docs: list[Doc]) -> None:
    encoders = _encoders(docs)
    assert encoders
    for deployment in encoders:
        name, pod = deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]
        container = _container(deployment)
        env = _env(container)
        assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1, name
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports == {"grpc": SETTINGS.port, "metrics": SETTINGS.metrics_port}, name
        models = models_of(env)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            grpc = container[probe]["grpc"]
            assert grpc["port"] == SETTINGS.port, f"{name} {probe}"
            assert grpc.get("service", "") in ["", *models], f"{name} {probe}: health service {grpc['service']!r}"
        sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        drain = float(env.get(config.env_var("drain_seconds"), SETTINGS.drain_seconds))
        assert pod["terminationGracePeriodSeconds"] > sleep + drain, name
        assert float(env[config.env_var("max_connection_age_s")]) > 0, f"{name}: new pods would get no traffic"
        unknown = set(env) - encoder_env_names() - set(THIRD_PARTY_ENV)
        assert not unknown, f"{name}: not settings: {unknown}"
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0


def check_selectors(docs: list[Doc]) -> None:
    """Each Deployment selects its own pods, and each Service finds exactly one Deployment's pods."""
    deployments = _kind(docs, "Deployment")
    for deployment in deployments:
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for service in _kind(docs, "Service"):
        selector = service["spec"]["selector"]
        matches = [d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matches) == 1, f"Service {service['metadata']['name']} selects {len(matches)} Deployments"
        ports = {p["name"] for c in matches[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def check_autoscalers(docs: list[Doc]) -> None:
    deployments = {d["metadata"]["name"] for d in _encoders(docs)}
    scaled = {}
    for obj in _kind(docs, "ScaledObject"):
        target = obj["spec"]["scaleTargetRef"]["name"]
        (trigger,) = obj["spec"]["triggers"]
        assert trigger["type"] == "prometheus"
        query = trigger["metadata"]["query"]
        assert "medembed_queue_depth" in query and f'service="{target}"' in query, query
        assert float(trigger["metadata"]["threshold"]) > 0
        assert 1 <= obj["spec"]["minReplicaCount"] <= obj["spec"]["maxReplicaCount"]
        scaled[target] = obj
    for hpa in _kind(docs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"]] == ["medembed_queue_depth"]
        assert target["name"] not in scaled, f"{target['name']} has two autoscalers"
        scaled[target["name"]] = hpa
    assert set(scaled) == deployments


# --- raw files ----------------------------------------------------------------------------------

@pytest.mark.timeout(SCHEMA_CHECK_LIMIT_S)
def test_raw_manifests_match_the_kubernetes_schemas():
    docs = raw_k8s_documents()
    assert {"Deployment", "Service", "Job", "ScaledObject", "HorizontalPodAutoscaler"} <= {d["kind"] for d in docs}
    check_schemas(docs)


def test_raw_encoder_template():
    docs = raw_k8s_documents()
    check_encoder_deployments(docs)
    check_selectors([d for d in docs if d["kind"] in ("Deployment", "Service")])
    service = _named(docs, "Service", "encoder")
    assert service["spec"]["clusterIP"] == "None"  # headless: DNS returns every pod for round_robin


def test_families_match_compose():
    """Same family, model list and image as the compose services: one study, two ways to run it."""
    compose = encoder_services(load_compose(COMPOSE))
    families = family_kustomizations()
    assert sorted(families) == sorted(spec.deploy_name for spec in FAMILY_TABLE.values())
    for directory, kustomization in families.items():
        service = compose[f"encoder-{directory}"]
        family = service["build"]["args"]["FAMILY"]
        assert kustomization["nameSuffix"] == f"-{directory}"
        assert kustomization["labels"][0]["pairs"] == {"medembed.io/family": family}
        assert kustomization["labels"][0]["includeSelectors"]
        assert kustomization["images"] == [{"name": "medembed-encoder", "newName": service["image"]}]
        patch = kustomization["patches"][0]["patch"]
        assert f'value: "{",".join(models_of(environment(service)))}"' in patch, directory


# --- the built stack ------------------------------------------------------------------------------

@needs_kustomize
@pytest.mark.timeout(SCHEMA_CHECK_LIMIT_S)
def test_built_stack_matches_the_kubernetes_schemas(built):
    check_schemas(built)


@needs_kustomize
@pytest.mark.parametrize("variant", ["keda", "hpa"])
def test_built_stack_probes_gpus_labels_and_autoscalers(variant, request):
    docs = request.getfixturevalue("built" if variant == "keda" else "built_with_hpa")
    check_encoder_deployments(docs)
    check_selectors(docs)
    check_autoscalers(docs)
    assert {d["metadata"]["labels"]["medembed.io/family"] for d in _encoders(docs)} == set(FAMILIES)
    if variant == "hpa":
        check_schemas(_kind(docs, "HorizontalPodAutoscaler"))


@needs_kustomize
def test_built_stack_services_are_headless_and_named_as_in_compose(built):
    encoders = {d["metadata"]["name"] for d in _encoders(built)}
    headless = {s["metadata"]["name"] for s in _kind(built, "Service") if s["spec"].get("clusterIP") == "None"}
    assert encoders == headless == set(encoder_services(load_compose(COMPOSE)))
    assert {d["metadata"]["namespace"] for d in built if d["kind"] != "Namespace"} == {"medembed"}


@needs_kustomize
def test_built_stack_wires_configmaps_redis_and_the_evaluator_job(built):
    configmaps = {c["metadata"]["name"]: c for c in _kind(built, "ConfigMap")}
    for workload in _kind(built, "Deployment") + _kind(built, "Job"):
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, volume
    plans = next(c for name, c in configmaps.items() if name.startswith("medembed-plans"))
    assert {"study.yaml", "small.yaml"} <= set(plans["data"])
    catalog = next(c for name, c in configmaps.items() if name.startswith("medembed-catalog"))
    assert catalog["data"]["catalog.yaml"] == (DEPLOY / "catalog.yaml").read_text()

    redis = _named(built, "Deployment", "redis")
    assert "allkeys-lru" in next(c for n, c in configmaps.items() if n.startswith("redis-config"))["data"]["redis.conf"]
    assert _container(redis)["readinessProbe"]
    for deployment in _encoders(built):
        assert _env(_container(deployment))[config.env_var("cache_url")].startswith("redis://redis:")

    job = _named(built, "Job", "evaluator")
    pod = job["spec"]["template"]["spec"]
    evaluator = pod["containers"][0]
    assert evaluator["args"][:2] == ["run", "deploy/plans/study.yaml"]
    mounted = {m["mountPath"]: m["name"] for m in evaluator["volumeMounts"]}
    assert mounted["/app/deploy/plans"] == "plans"
    waiter = pod["initContainers"][0]["command"]
    assert waiter[:3] == ["python", "-m", "medembed_client.healthcheck"]
    targets = {waiter[i + 1] for i, arg in enumerate(waiter) if arg == "--target"}
    assert targets == {f"dns:///{name}:{SETTINGS.port}" for name in (d["metadata"]["name"] for d in _encoders(built))}


@needs_kustomize
def test_built_images_carry_the_package_version(built):
    version = pyproject("services/encoder")["project"]["version"]
    pods = [d["spec"]["template"]["spec"] for d in _kind(built, "Deployment") + _kind(built, "Job")]
    images = {c["image"] for pod in pods for c in pod["containers"] + pod.get("initContainers", [])}
    medembed = {image for image in images if image.startswith("medembed-")}
    assert len(medembed) == len(FAMILIES) + 1 and all(image.endswith(f":{version}") for image in medembed)


def test_kustomization_paths_exist():
    for path in [DEPLOY / "kustomization.yaml", *(DEPLOY / "k8s").rglob("kustomization.yaml")]:
        kustomization = yaml.safe_load(path.read_text())
        for entry in kustomization.get("resources", []) + kustomization.get("components", []):
            assert (path.parent / entry).exists(), f"{path}: {entry}"
        for generator in kustomization.get("configMapGenerator", []):
            for file in generator.get("files", []):
                assert (path.parent / file).is_file(), f"{path}: {file}"
