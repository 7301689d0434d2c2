"""The Dockerfiles, read statically: no Docker engine needed."""

from __future__ import annotations

import fnmatch
import importlib.util
import re

import pytest

from .manifests import (
    ENCODER_DOCKERFILE,
    EVALUATOR_DOCKERFILE,
    FAMILIES,
    ROOT,
    SETTINGS,
    THIRD_PARTY_ENV,
    dockerfile_env,
    dockerfile_instructions,
    encoder_env_names,
    exec_form,
    final_stage,
    pyproject,
)

DOCKERFILES = {"encoder": (ENCODER_DOCKERFILE, "services/encoder"),
               "evaluator": (EVALUATOR_DOCKERFILE, "services/evaluator")}


def _args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    return dict(arguments.partition("=")[::2] for keyword, arguments in instructions if keyword == "ARG")


@pytest.fixture(params=sorted(DOCKERFILES))
def image(request):
    path, package_dir = DOCKERFILES[request.param]
    return request.param, dockerfile_instructions(path), package_dir


def test_multi_stage_final_stage_copies_the_built_venv(image):
    _, instructions, _ = image
    assert sum(keyword == "FROM" for keyword, _ in instructions) >= 2
    final = final_stage(instructions)
    assert any(keyword == "COPY" and arguments.startswith("--from=build") for keyword, arguments in final)
    assert not any(keyword == "RUN" and "pip install" in arguments for keyword, arguments in final)


def test_runs_as_a_numeric_non_root_user(image):
    _, instructions, _ = image
    users = [arguments for keyword, arguments in final_stage(instructions) if keyword == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so Kubernetes runAsNonRoot can verify it


def test_entrypoint_is_exec_form_and_a_real_console_script(image):
    _, instructions, package_dir = image
    entrypoints = [arguments for keyword, arguments in final_stage(instructions) if keyword == "ENTRYPOINT"]
    command = exec_form(entrypoints[-1])
    assert command, "shell-form ENTRYPOINT: sh would be PID 1 and swallow SIGTERM"
    assert command[0] in pyproject(package_dir)["project"]["scripts"]


def test_encoder_entrypoint_serves():
    entrypoint = [a for k, a in final_stage(dockerfile_instructions(ENCODER_DOCKERFILE)) if k == "ENTRYPOINT"]
    assert exec_form(entrypoint[-1]) == ["medembed-encoder", "serve"]


def test_encoder_builds_one_family_extra():
    instructions = dockerfile_instructions(ENCODER_DOCKERFILE)
    extras = pyproject("services/encoder")["project"]["optional-dependencies"]
    stages = " ".join(f"{k} {a}" for k, a in instructions).split(" FROM ")
    assert all("ARG FAMILY" in stage for stage in stages[1:]), "every stage that uses FAMILY declares it"
    installs = [a for k, a in instructions if k == "RUN" and "services/encoder[" in a]
    assert len(installs) == 1 and '/src/services/encoder[$FAMILY]"' in installs[0]
    accepted = re.search(r'case "\$FAMILY" in ([\w|]+)\)', " ".join(a for k, a in instructions if k == "RUN"))
    assert accepted and sorted(accepted.group(1).split("|")) == sorted(FAMILIES)
    missing = [family for family in FAMILIES if family not in extras]
    assert not missing, f"services/encoder/pyproject.toml has no extra for {missing}"
    assert _args(instructions)["FAMILY"] in FAMILIES


def test_encoder_pins_the_torch_the_project_tests_with():
    args = _args(dockerfile_instructions(ENCODER_DOCKERFILE))
    makefile = (ROOT / "Makefile").read_text()
    assert f"torch=={args['TORCH_VERSION']}" in makefile
    assert f"torchvision=={args['TORCHVISION_VERSION']}" in makefile


def test_encoder_healthcheck_uses_the_packaged_health_client():
    final = final_stage(dockerfile_instructions(ENCODER_DOCKERFILE))
    checks = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].split(" CMD ", 1)[1])
    assert command == ["python", "-m", "medembed_client.healthcheck"]
    assert importlib.util.find_spec("medembed_client.healthcheck") is not None
    assert "--start-period=" in checks[0]


def test_encoder_exposes_the_default_ports():
    final = final_stage(dockerfile_instructions(ENCODER_DOCKERFILE))
    exposed = {int(port) for keyword, arguments in final if keyword == "EXPOSE" for port in arguments.split()}
    assert exposed == {SETTINGS.port, SETTINGS.metrics_port}


def test_encoder_image_env_vars_are_real():
    env = dockerfile_env(final_stage(dockerfile_instructions(ENCODER_DOCKERFILE)))
    unknown = set(env) - encoder_env_names() - set(THIRD_PARTY_ENV)
    assert not unknown


def test_evaluator_image_installs_no_torch_and_no_encoder():
    instructions = dockerfile_instructions(EVALUATOR_DOCKERFILE)
    copies = [arguments for keyword, arguments in instructions if keyword == "COPY"]
    installs = [arguments.split("&&")[0] for keyword, arguments in instructions
                if keyword == "RUN" and "pip install" in arguments]
    assert installs and not any("torch" in command for command in installs)
    assert not any("services/encoder" in line for line in copies + installs)
    assert not any("torch" in dependency for dependency in pyproject("services/evaluator")["project"]["dependencies"])


def test_dockerignore_lets_every_copied_path_through():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in (ENCODER_DOCKERFILE, EVALUATOR_DOCKERFILE):
        for keyword, arguments in dockerfile_instructions(path):
            if keyword != "COPY" or arguments.startswith("--from"):
                continue
            source = arguments.split()[0]
            included = False
            for pattern in patterns:  # last match wins, as in Docker
                negated = pattern.startswith("!")
                if fnmatch.fnmatch(source, pattern.lstrip("!")):
                    included = negated
            assert included, f"{path.name}: COPY {source} is excluded by .dockerignore"
            assert (ROOT / source).exists()


def _build_stage(path) -> list[tuple[str, str]]:
    instructions = dockerfile_instructions(path)
    return instructions[:max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")]


@pytest.mark.parametrize("path", [ENCODER_DOCKERFILE, EVALUATOR_DOCKERFILE], ids=lambda p: p.name)
def test_builds_without_a_frontend_image_from_a_registry(path):
    """A `# syntax=` directive makes BuildKit pull that frontend image first: no air-gapped builds."""
    first_lines = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert not [line for line in first_lines if re.match(r"#\s*syntax\s*=", line, re.IGNORECASE)]


@pytest.mark.parametrize("path", [ENCODER_DOCKERFILE, EVALUATOR_DOCKERFILE], ids=lambda p: p.name)
def test_pip_is_upgraded_before_the_first_install(path):
    """A base image's pip older than 23.3 drops extras named with '_' (open_clip) without a word."""
    commands = [command.strip() for keyword, arguments in _build_stage(path) if keyword == "RUN"
                for command in arguments.split("&&")]
    installs = [i for i, command in enumerate(commands) if command.startswith("pip install")]
    assert installs and commands[installs[0]] == "pip install --upgrade pip"


def test_the_encoder_build_checks_its_family_and_the_cpu_variants_torch():
    runs = [arguments for keyword, arguments in _build_stage(ENCODER_DOCKERFILE) if keyword == "RUN"]
    family_install = next(i for i, command in enumerate(runs) if "services/encoder[" in command)
    checks = [i for i, command in enumerate(runs) if "python -m medembed_encoder.buildcheck" in command]
    assert checks and checks[0] > family_install, "the check runs after the family's install"
    assert runs[checks[0]] == 'python -m medembed_encoder.buildcheck "$FAMILY" ${REQUIRE_CPU_TORCH:+--cpu}'
    assert "REQUIRE_CPU_TORCH" in _args(dockerfile_instructions(ENCODER_DOCKERFILE))
    torch_install = next(command for command in runs if "--index-url" in command and " torch " in command)
    assert '${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch ||' in torch_install  # no PyPI CUDA wheels beside
    assert "could not be installed" in torch_install  # a failed install says which index


def test_the_evaluator_build_checks_that_its_libraries_import():
    runs = " ".join(arguments for keyword, arguments in _build_stage(EVALUATOR_DOCKERFILE) if keyword == "RUN")
    assert 'python -c "import medembed_evaluator.cli, medembed_evaluator.runner, sklearn, umap"' in runs
