"""The deployments' security: Redis with passwords from secrets, TLS and tokens from secrets
(compose override, k8s component), the NetworkPolicy, and no secret value in any committed file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from medembed_encoder import config

from .manifests import (
    COMPOSE,
    COMPOSE_CPU,
    DEPLOY,
    EVALUATOR_SOURCE,
    ROOT,
    SETTINGS,
    THIRD_PARTY_ENV,
    encoder_env_names,
    encoder_services,
    env_reads,
    environment,
    kustomize_build,
    kustomize_command,
    load_compose,
    secret_mounts,
    with_secrets_as_files,
)
from .test_compose import _compose_cli

COMPOSE_TLS = DEPLOY / "compose.tls.yml"
CLIENT_SOURCES = (ROOT / "clients" / "python" / "medembed_client", ROOT / "libs" / "proto" / "medembed_proto")
SECRETS = DEPLOY / "secrets"
GENERATED = {"redis_password", "redis_results_password", "medembed_token", "medembed_tokens", "cache_mac_key", "ca.crt",
             "encoder.crt", "encoder.key"}
needs_kustomize = pytest.mark.skipif(kustomize_command() is None, reason="no kustomize or kubectl binary here")
Doc = dict[str, Any]


def evaluator_env_names() -> set[str]:
    """The evaluator reads its own variables and, through the client and medembed_proto.security, the
    TLS and token ones."""
    return env_reads(EVALUATOR_SOURCE).union(*(env_reads(source) for source in CLIENT_SOURCES))


# --- Compose -----------------------------------------------------------------------------------

@pytest.fixture(params=["plain", "tls", "cpu+tls"], scope="module")
def compose(request) -> dict[str, Any]:
    files = {"plain": (COMPOSE,), "tls": (COMPOSE, COMPOSE_TLS), "cpu+tls": (COMPOSE, COMPOSE_CPU, COMPOSE_TLS)}
    return load_compose(*files[request.param])


def test_every_secret_is_a_file_that_make_secrets_writes_and_git_ignores(compose):
    for name, secret in compose["secrets"].items():
        path = (ROOT / secret["file"]).resolve()
        assert path.parent == SECRETS, f"secret {name}: {path} is not under deploy/secrets"
        assert path.name in GENERATED, f"secret {name}: deploy/secrets/generate.sh does not write {path.name}"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(SECRETS / "redis_password")], cwd=ROOT)
    assert ignored.returncode == 0, "deploy/secrets/* must be ignored by git"


def test_redis_needs_a_password_and_each_client_has_its_own(compose):
    redis = compose["services"]["redis"]
    assert redis["command"][:2] == ["sh", "/usr/local/etc/redis/start.sh"]
    env = environment(redis)
    mounted = secret_mounts(compose, redis)
    assert env["REDIS_PASSWORD_FILE"] in mounted and env["REDIS_RESULTS_PASSWORD_FILE"] in mounted
    assert "REDISCLI_AUTH" in redis["healthcheck"]["test"][1]  # the health check authenticates too
    for name, service in encoder_services(compose).items():
        password_file = environment(service)[config.env_var("cache_password_file")]
        assert password_file == env["REDIS_PASSWORD_FILE"] and password_file in secret_mounts(compose, service), name
        assert env["REDIS_RESULTS_PASSWORD_FILE"] not in secret_mounts(compose, service), name
    evaluator = compose["services"]["evaluator"]
    results = environment(evaluator)
    assert urlparse(results["MEDEMBED_RESULTS_REDIS_URL"]).username == "results"
    assert results["MEDEMBED_RESULTS_REDIS_PASSWORD_FILE"] == env["REDIS_RESULTS_PASSWORD_FILE"]
    assert env["REDIS_PASSWORD_FILE"] not in secret_mounts(compose, evaluator)  # it cannot touch the vectors


def test_encoder_settings_with_tls_pass_the_servers_validation(compose, tmp_path):
    stand_in = tmp_path / "secret"
    stand_in.write_text("placeholder-secret-value-0123456789\n")
    for name, service in encoder_services(compose).items():
        env = {k: v for k, v in environment(service).items() if v is not None}
        assert set(env) <= encoder_env_names() | set(THIRD_PARTY_ENV), name
        env = with_secrets_as_files(env, compose, service, stand_in)
        env[config.env_var("catalog")] = str(DEPLOY / "catalog.yaml")
        settings = config.from_sources(environ=env)
        if settings.tls:
            assert settings.wants_tokens and not settings.reflection_on, name
            assert settings.health_port > 0 and settings.health_port != SETTINGS.port, name
            assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "medembed_client.healthcheck"]
            url = urlparse(settings.cache_url)
            assert url.scheme == "rediss" and parse_qs(url.query)["ssl_ca_certs"], name


def test_every_encoder_authenticates_its_cache_values_with_the_one_shared_secret(compose, tmp_path):
    from medembed_encoder.cache import cache_sealer

    stand_in = tmp_path / "secret"
    stand_in.write_text("placeholder-secret-value-0123456789abcdef\n")
    sources = set()
    for name, service in encoder_services(compose).items():
        env = {k: v for k, v in environment(service).items() if v is not None}
        key_file = env[config.env_var("cache_mac_key_file")]
        sources.add(secret_mounts(compose, service)[key_file])
        settings = config.from_sources(environ={**with_secrets_as_files(env, compose, service, stand_in),
                                                config.env_var("catalog"): str(DEPLOY / "catalog.yaml")})
        assert cache_sealer(settings).authenticated, name
    assert sources == {SECRETS / "cache_mac_key"}  # one secret: every replica serves the others' values
    assert "cache_mac_key" not in {s if isinstance(s, str) else s["source"]
                                   for s in compose["services"]["evaluator"].get("secrets", [])}


def test_make_secrets_writes_a_cache_mac_key_once(tmp_path):
    directory = tmp_path / "secrets"

    def generate() -> str:
        subprocess.run(["sh", str(SECRETS / "generate.sh"), str(directory)], check=True, capture_output=True,
                       timeout=60)
        return (directory / "cache_mac_key").read_text()

    first = generate()
    assert re.fullmatch(r"[0-9a-f]{64}\n", first)  # 32 random bytes, hex
    assert generate() == first  # kept on a second run: replicas and old values keep working


def test_the_tls_evaluator_trusts_the_encoders_ca_and_sends_a_token(tmp_path):
    compose = load_compose(COMPOSE, COMPOSE_TLS)
    evaluator = compose["services"]["evaluator"]
    env = environment(evaluator)
    assert {key for key in env if key.startswith("MEDEMBED_")} <= evaluator_env_names()
    mounted = secret_mounts(compose, evaluator)
    assert mounted[env["MEDEMBED_TLS_CA"]].name == "ca.crt"
    assert mounted[env["MEDEMBED_TOKEN_FILE"]].name == "medembed_token"
    assert "encoder_tls_key" not in {s if isinstance(s, str) else s["source"] for s in evaluator["secrets"]}


@pytest.mark.skipif(_compose_cli() is None, reason="no Docker Compose CLI here")
@pytest.mark.parametrize("files", [(COMPOSE, COMPOSE_TLS), (COMPOSE, COMPOSE_CPU, COMPOSE_TLS)])
def test_docker_compose_accepts_the_tls_override(files):
    completed = subprocess.run([*_compose_cli(), *[a for f in files for a in ("-f", str(f))], "config", "-q"],
                               capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert completed.returncode == 0, completed.stderr


# --- no secret values committed -----------------------------------------------------------------

_SECRET_VALUE = re.compile(r"(requirepass\s+\S|://[^/\s:@]*:[^@\s]+@|Bearer\s+[A-Za-z0-9]{8,}|--requirepass)")


def test_no_committed_deployment_file_holds_a_secret_value():
    files = [COMPOSE, *DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.conf"), *DEPLOY.rglob("*.sh")]
    for path in files:
        if SECRETS in path.parents and path.name != "generate.sh":
            continue
        text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        text = text.replace("requirepass %s", "")  # start.sh writes the value it read from the secret file
        assert not _SECRET_VALUE.search(text), f"{path}: {_SECRET_VALUE.search(text).group(0)}"


# --- Kubernetes --------------------------------------------------------------------------------

def _pods(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in docs if d["kind"] in ("Deployment", "Job")]


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    return selector.get("matchLabels", {}).items() <= labels.items()


def _allowed_sources(policy: Doc, port: str) -> list[Doc]:
    return [peer for rule in policy["spec"].get("ingress", []) for peer in rule.get("from", [])
            if any(p["port"] == port for p in rule.get("ports", []))]


def _redis_secret_keys(pod_spec: Doc) -> list[str]:
    return [item["key"] for volume in pod_spec["volumes"]
            if volume.get("secret", {}).get("secretName") == "medembed-redis" for item in volume["secret"]["items"]]


@pytest.fixture(scope="module")
def built() -> list[Doc]:
    return kustomize_build(DEPLOY)


@pytest.fixture(scope="module")
def built_with_tls(tmp_path_factory) -> list[Doc]:
    """The stack with the TLS component switched on, as deploy/kustomization.yaml says to do."""
    copy = tmp_path_factory.mktemp("tls") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    path = copy / "kustomization.yaml"
    text = path.read_text()
    assert "# components:\n#   - k8s/components/tls" in text
    path.write_text(text.replace("# components:\n#   - k8s/components/tls", "components:\n  - k8s/components/tls"))
    return kustomize_build(copy)


@needs_kustomize
def test_network_policy_lets_only_encoders_and_the_results_user_reach_redis(built):
    policies = {d["metadata"]["name"]: d for d in built if d["kind"] == "NetworkPolicy"}
    deny = next(p for p in policies.values() if p["spec"]["podSelector"] == {})
    assert deny["spec"]["policyTypes"] == ["Ingress"] and not deny["spec"].get("ingress")
    pods = dict(_pods(built))
    redis_policy = next(p for p in policies.values() if p is not deny
                        and _selects(p["spec"]["podSelector"], pods["redis"]["metadata"]["labels"]))
    sources = _allowed_sources(redis_policy, "redis")
    allowed = {name for name, pod in pods.items() if any(_selects(s["podSelector"], pod["metadata"]["labels"])
                                                         for s in sources if "podSelector" in s)}
    assert allowed == {name for name in pods if name.startswith("encoder")} | {"evaluator"}
    assert all("namespaceSelector" not in source for source in sources)
    # The evaluator holds only the results user's password (XADD on the results stream, nothing else).
    job = pods["evaluator"]["spec"]
    assert _redis_secret_keys(job) == ["results-password"]
    for name, pod in pods.items():
        if name.startswith("encoder"):
            assert _redis_secret_keys(pod["spec"]) == ["password"], name


@needs_kustomize
def test_every_encoder_pod_reads_the_cache_mac_secret_and_nothing_else_does(built):
    for name, pod in _pods(built):
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["spec"].get("volumes", []) if "secret" in v}
        if not name.startswith("encoder"):
            assert "medembed-cache-mac" not in secrets.values(), name
            continue
        key_file = Path(env[config.env_var("cache_mac_key_file")])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert secrets[mounts[str(key_file.parent)]] == "medembed-cache-mac" and key_file.name == "key", name


@needs_kustomize
def test_network_policy_lets_only_the_evaluator_ingress_and_prometheus_reach_the_encoders(built):
    policies = [d for d in built if d["kind"] == "NetworkPolicy"]
    pods = dict(_pods(built))
    encoder_labels = next(pod["metadata"]["labels"] for name, pod in pods.items() if name.startswith("encoder"))
    policy = next(p for p in policies if p["spec"]["podSelector"] != {}
                  and _selects(p["spec"]["podSelector"], encoder_labels))
    grpc_sources = _allowed_sources(policy, "grpc")
    pod_sources = {name for name, pod in pods.items()
                   if any(_selects(s["podSelector"], pod["metadata"]["labels"])
                          for s in grpc_sources if "podSelector" in s)}
    assert pod_sources == {"evaluator"}
    assert [s["namespaceSelector"]["matchLabels"] for s in grpc_sources if "namespaceSelector" in s] == \
        [{"kubernetes.io/metadata.name": "ingress-nginx"}]
    metrics_sources = _allowed_sources(policy, "metrics")
    assert len(metrics_sources) == 1 and metrics_sources[0]["podSelector"]["matchLabels"] == \
        {"app.kubernetes.io/name": "prometheus"}
    ports = {p["name"] for c in pods[next(n for n in pods if n.startswith("encoder"))]["spec"]["containers"]
             for p in c["ports"]}
    assert {"grpc", "metrics"} <= ports  # the policy's named ports exist on the pods


@needs_kustomize
def test_redis_starts_with_the_passwords_of_its_secret(built):
    redis = next(d for d in built if d["kind"] == "Deployment" and d["metadata"]["name"] == "redis")
    pod = redis["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"][:2] == ["sh", "/usr/local/etc/redis/start.sh"]
    env = {e["name"]: e["value"] for e in container["env"]}
    secret_mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "passwords")
    assert env["REDIS_PASSWORD_FILE"].startswith(secret_mount)
    assert env["REDIS_RESULTS_PASSWORD_FILE"].startswith(secret_mount)
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert tmp["emptyDir"]["medium"] == "Memory" and env["REDIS_AUTH_CONF"].startswith("/tmp/")
    configmap = next(d for d in built if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("redis-config"))
    assert configmap["data"]["start.sh"] == (DEPLOY / "redis" / "start.sh").read_text()


@needs_kustomize
def test_the_tls_component_turns_on_tls_and_tokens_and_moves_the_probes(built_with_tls):
    from .test_k8s import check_schemas

    check_schemas([d for d in built_with_tls if d["kind"] in ("Deployment", "Job")])
    pods = dict(_pods(built_with_tls))
    encoders = {name: pod for name, pod in pods.items() if name.startswith("encoder")}
    assert len(encoders) == 4
    for name, pod in encoders.items():
        container = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert set(env) <= encoder_env_names() | set(THIRD_PARTY_ENV), name
        health_port = int(env[config.env_var("health_port")])
        assert health_port != SETTINGS.port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == health_port, f"{name} {probe}"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        cache_ca = parse_qs(urlparse(env[config.env_var("cache_url")]).query)["ssl_ca_certs"][0]
        assert urlparse(env[config.env_var("cache_url")]).scheme == "rediss", name
        for setting, path in [(s, Path(env[config.env_var(s)])) for s in ("tls_cert", "tls_key", "token_file")] + \
                [("cache_url", Path(cache_ca))]:
            volume = volumes[mounts[str(path.parent)]]
            assert path.name in {item["path"] for item in volume["secret"]["items"]}, f"{name}: {setting}"
    job = pods["evaluator"]["spec"]
    for container in job["containers"] + job["initContainers"]:
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert {k for k in env if k.startswith("MEDEMBED_")} <= evaluator_env_names()
        assert env["MEDEMBED_TLS_CA"].endswith("/ca.crt"), container["name"]
    assert any(e["name"] == "MEDEMBED_TOKEN_FILE" for e in job["containers"][0]["env"])
    results_url = next(e["value"] for e in job["containers"][0]["env"] if e["name"] == "MEDEMBED_RESULTS_REDIS_URL")
    assert results_url.startswith("rediss://results@redis:")
    redis = pods["redis"]["spec"]["containers"][0]
    arguments = dict(zip(redis["command"][3::2], redis["command"][4::2], strict=True))
    assert arguments["--port"] == "0" and arguments["--tls-port"] == "6379"  # TLS only
    tls_mount = next(m["mountPath"] for m in redis["volumeMounts"] if m["name"] == "tls")
    assert all(arguments[f"--tls-{kind}-file"].startswith(tls_mount) for kind in ("cert", "key", "ca-cert"))
    assert "--tls" in redis["readinessProbe"]["exec"]["command"][2]
