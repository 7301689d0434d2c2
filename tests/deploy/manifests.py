"""Reading the deployment files as Docker Compose, Docker and kustomize would, without any of them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from medembed_encoder import config
from medembed_encoder.families.table import FAMILIES as FAMILY_TABLE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_CPU = DEPLOY / "compose.cpu.yml"
ENCODER_DOCKERFILE = DEPLOY / "docker" / "encoder.Dockerfile"
EVALUATOR_DOCKERFILE = DEPLOY / "docker" / "evaluator.Dockerfile"
ENCODER_SOURCE = ROOT / "services" / "encoder" / "medembed_encoder"
EVALUATOR_SOURCE = ROOT / "services" / "evaluator" / "medembed_evaluator"
FAMILIES = tuple(FAMILY_TABLE)  # DESIGN.md: one container image each
SETTINGS = config.Settings()

# Variables read by the libraries the encoder runs, not by medembed itself.
THIRD_PARTY_ENV = {
    "HF_TOKEN": "huggingface_hub: token for gated models",
    "HF_HOME": "huggingface_hub: download cache",
    "TORCH_HOME": "torch.hub / torchvision: download cache",
    "PATH": "the image's virtualenv",
    "PYTHONUNBUFFERED": "log lines leave at once",
}


# --- Compose -------------------------------------------------------------------------------------

class _Reset:
    """Compose's `!reset`: the key is dropped from the merged file."""


class _Override:
    def __init__(self, value: Any) -> None:
        self.value = value


class ComposeLoader(yaml.SafeLoader):
    pass


ComposeLoader.add_constructor("!reset", lambda loader, node: _Reset())
ComposeLoader.add_constructor(
    "!override", lambda loader, node: _Override(loader.construct_mapping(node, deep=True)
                                                if isinstance(node, yaml.MappingNode)
                                                else loader.construct_object(node, deep=True)))


def _merge(base: Any, override: Any) -> Any:
    if isinstance(override, _Override):
        return override.value
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, _Reset):
                merged.pop(key, None)
            else:
                merged[key] = _merge(base.get(key), value)
        return merged
    return override


_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any, environ: dict[str, str] | None = None) -> Any:
    """`${VAR:-default}` as Compose fills it in, from `environ` (empty: the defaults)."""
    environ = environ or {}
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {key: interpolate(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environ) for item in value]
    return value


def load_compose(*files: Path) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in files:
        merged = _merge(merged, yaml.load(path.read_text(), Loader=ComposeLoader))
    return merged


def active_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services `docker compose up` starts without --profile."""
    return {name: service for name, service in compose["services"].items() if not service.get("profiles")}


def encoder_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in active_services(compose).items()
            if service.get("build", {}).get("dockerfile", "").endswith("encoder.Dockerfile")}


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = interpolate(service.get("environment") or {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def models_of(service_env: dict[str, Any]) -> list[str]:
    return [part.strip() for part in (service_env.get(config.env_var("models")) or "").split(",") if part.strip()]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """{container path: source} of the short-syntax volumes."""
    found = {}
    for entry in interpolate(service.get("volumes") or []):
        source, target = entry.split(":")[:2]
        found[target] = source
    return found


SECRETS_DIR = "/run/secrets/"


def secret_mounts(compose: dict[str, Any], service: dict[str, Any]) -> dict[str, Path]:
    """{/run/secrets/<name>: host file} of the Docker secrets the service lists (short syntax)."""
    found = {}
    for entry in service.get("secrets") or []:
        name = entry if isinstance(entry, str) else entry["source"]
        target = name if isinstance(entry, str) else entry.get("target", name)
        found[SECRETS_DIR + target] = ROOT / compose["secrets"][name]["file"]
    return found


def with_secrets_as_files(env: dict[str, str], compose: dict[str, Any], service: dict[str, Any],
                          stand_in: Path) -> dict[str, str]:
    """`env` with every /run/secrets/ path checked to be a secret the service mounts, then pointed at
    `stand_in` (the real files are made by `make secrets`, never committed)."""
    mounted = secret_mounts(compose, service)
    replaced = dict(env)
    for key, value in env.items():
        for path in (value or "").replace("=", " ").replace("?", " ").split():
            if path.startswith(SECRETS_DIR):
                assert path in mounted, f"{key}: {path} is not a secret this service mounts"
                replaced[key] = value.replace(path, str(stand_in))
    return replaced


# --- Dockerfiles ---------------------------------------------------------------------------------

def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or not stripped:
            continue
        pending += " " + stripped.removesuffix("\\").strip() if pending else stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, rest = pending.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
            pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str] | None:
    """The JSON array of an exec-form CMD/ENTRYPOINT, or None for the shell form."""
    try:
        value = json.loads(arguments)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, arguments in instructions:
        if keyword == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", arguments))
    return env


def pyproject(package_dir: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / package_dir / "pyproject.toml").read_text())


# --- Kubernetes ----------------------------------------------------------------------------------

def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    assert command, "no kustomize binary"
    completed = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return [doc for doc in yaml.safe_load_all(completed.stdout) if doc]


def raw_k8s_documents() -> list[dict[str, Any]]:
    """Every Kubernetes object written under deploy/k8s, before kustomize touches it."""
    docs = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text())
                 if doc and "apiVersion" in doc and doc.get("kind") not in ("Kustomization", "Component")]
    return docs


def family_kustomizations() -> dict[str, dict[str, Any]]:
    return {path.parent.name: yaml.safe_load(path.read_text())
            for path in sorted((DEPLOY / "k8s" / "families").glob("*/kustomization.yaml"))}


_ENV_LITERAL = re.compile(r"[\"'](MEDEMBED_[A-Z0-9_]+)[\"']")


def env_reads(package: Path) -> set[str]:
    """MEDEMBED_* variables the package's code names as a whole string literal: the ones it reads
    itself (os.environ.get("MEDEMBED_X") or a constant holding the name)."""
    return {name for path in package.rglob("*.py") for name in _ENV_LITERAL.findall(path.read_text())}


def encoder_env_names() -> set[str]:
    """What an encoder container may set: its settings, plus the variables its code reads directly."""
    return {config.env_var(name) for name in config.setting_names()} | env_reads(ENCODER_SOURCE)
