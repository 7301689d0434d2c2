"""`medembed-encoder serve` fails at start in the user's words: one line naming the flag (or the
model) and what to do next, a non-zero exit, no traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from helpers.servers import TEST_CATALOG, free_port

ENCODER = [sys.executable, "-m", "medembed_encoder.cli"]


def serve(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*ENCODER, "serve", "--catalog", str(TEST_CATALOG), "--device", "cpu",
                           "--cache-url", "none", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def user_lines(completed: subprocess.CompletedProcess) -> list[str]:
    """stderr less the server's JSON log lines."""
    return [line for line in completed.stderr.splitlines() if line and not line.startswith("{")]


def test_a_grpc_port_in_use_is_one_line_naming_the_flag(tiny_server):
    completed = serve("--models", "tiny-timm", "--allow-random-weights", "--host", "127.0.0.1",
                      "--port", str(tiny_server.port), "--metrics-port", "-1")
    assert completed.returncode == 2
    assert user_lines(completed) == [
        f"medembed-encoder: --port {tiny_server.port} is in use on 127.0.0.1 (another server listens there): "
        "stop it, or pick a free port with --port (env MEDEMBED_PORT)"]
    assert "Traceback" not in completed.stderr


def test_the_wildcard_host_sees_a_port_taken_on_loopback(tiny_server):
    completed = serve("--models", "tiny-timm", "--allow-random-weights", "--port", str(tiny_server.port),
                      "--metrics-port", "-1")
    assert completed.returncode == 2
    assert user_lines(completed)[0].startswith(f"medembed-encoder: --port {tiny_server.port} is in use on [::]")


def test_a_metrics_port_in_use_is_one_line_naming_the_flag(tiny_server):
    completed = serve("--models", "tiny-timm", "--allow-random-weights", "--host", "127.0.0.1",
                      "--port", str(free_port()), "--metrics-port", str(tiny_server.metrics_port))
    assert completed.returncode == 2
    assert user_lines(completed) == [
        f"medembed-encoder: --metrics-port {tiny_server.metrics_port} is in use on 127.0.0.1 (another server "
        "listens there): stop it, or pick a free port with --metrics-port (env MEDEMBED_METRICS_PORT)"]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--port", "abc"], {}, "--port (MEDEMBED_PORT) must be a whole number, got 'abc'"),
    ([], {"MEDEMBED_MAX_BATCH_SIZE": "0"}, "--max-batch-size (MEDEMBED_MAX_BATCH_SIZE) must be more than 0, got 0"),
    ([], {"MEDEMBED_ALLOW_RANDOM_WEIGHTS": "maybe"},
     "--allow-random-weights (MEDEMBED_ALLOW_RANDOM_WEIGHTS) must be 1/true/yes/on or 0/false/no/off, got 'maybe'"),
    (["--log-level", "loud"], {}, "--log-level (MEDEMBED_LOG_LEVEL) must be one of debug, info, warning, error, "
                                  "got 'loud'"),
    (["--max-queue-items", "10"], {}, "--max-queue-items (MEDEMBED_MAX_QUEUE_ITEMS) (10) must be at least "
                                      "--max-items-per-request (MEDEMBED_MAX_ITEMS_PER_REQUEST) (256)"),
    (["--dtype", "fp8"], {}, "--dtype (MEDEMBED_DTYPE) must be auto, float32, float16 or bfloat16, got 'fp8'"),
    (["--cache-url", "memcached://x"], {}, "--cache-url (MEDEMBED_CACHE_URL) must be redis://"),
    (["--port", "70000"], {}, "--port 70000 is not a port number (1-65535)"),
    (["--host", "no-such-host.invalid"], {}, "--host no-such-host.invalid: no such address on this machine"),
])
def test_bad_settings_are_told_in_flag_and_variable_names(args, env, message):
    random_flag = [] if "MEDEMBED_ALLOW_RANDOM_WEIGHTS" in env else ["--allow-random-weights"]
    completed = serve("--models", "tiny-timm", *random_flag, "--metrics-port", "-1", *args, env=env)
    assert completed.returncode == 2
    lines = user_lines(completed)
    assert len(lines) == 1 and lines[0].startswith("medembed-encoder: ") and message in lines[0], lines
    assert not re.search(r"Traceback|invalid literal|Error|base 10", completed.stderr), completed.stderr
    assert not re.search(r"(?<![-A-Z])[a-z]+_[a-z_]+", lines[0].split(" got ")[0]), lines[0]  # no field names


def test_an_unknown_model_id_lists_the_known_ones_without_python_reprs():
    completed = serve("--models", "tiny-timm,nope", "--metrics-port", "-1")
    assert completed.returncode == 2
    (line,) = user_lines(completed)
    assert line.startswith("medembed-encoder: --models: unknown model id(s) nope; `medembed-encoder catalog` lists")
    assert "tiny-clip, tiny-timm" in line and "[" not in line


def test_serve_help_describes_every_flag_and_shows_no_default_for_models():
    completed = subprocess.run([*ENCODER, "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    options = completed.stdout.split("options:", 1)[1]
    text = " ".join(options.split())
    models = re.search(r"--models MODELS (.*?) --host", text).group(1)
    assert "required" in models and "[env MEDEMBED_MODELS]" in models and "default" not in models
    flags = re.findall(r"^  (--[a-z-]+)", options, re.MULTILINE)
    assert len(flags) > 20
    for flag in flags:
        if flag == "--help":
            continue
        described = re.search(re.escape(flag) + r"(?: [A-Z_]+)? (.*?)(?= --[a-z]|$)", text).group(1)
        assert "[env MEDEMBED_" in described and len(described) > 25, (flag, described)
    assert "--port PORT gRPC port [env MEDEMBED_PORT; default 50051]" in text


def test_weights_that_cannot_be_had_end_in_one_message_with_the_next_steps(tmp_path):
    env = {"MEDEMBED_WEIGHTS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1", "MEDEMBED_MODEL_CACHE": str(tmp_path)}
    completed = subprocess.run([*ENCODER, "serve", "--models", "cxr-clip-swint", "--port", "0", "--metrics-port", "-1",
                                "--cache-url", "none", "--device", "cpu"], capture_output=True, text=True,
                               timeout=180, env={**os.environ, **env})
    assert completed.returncode == 3
    first, hint = user_lines(completed)
    assert first == (f"medembed-encoder: model 'cxr-clip-swint': checkpoint {tmp_path}/cxr-clip/swint_mcc.tar "
                     "not found")
    assert hint.startswith("Next: offline?") and "HF_HUB_OFFLINE=1" in hint and "--allow-random-weights" in hint
    assert "Traceback" not in completed.stderr


def test_an_unreachable_hub_is_noticed_once_and_not_retried(tmp_path):
    """huggingface_hub retries a refused connection five times per file with backoff before it
    looks in its cache; the encoder tests the hub once and goes to the cache straight away."""
    script = ("from medembed_encoder.logs import configure; configure('info');"
              "from medembed_encoder.weights.hub import HubRepo, MissingFile\n"
              "for name in ('a.safetensors', 'b.bin'):\n"
              "    try: HubRepo('org/model').get(name)\n"
              "    except MissingFile as exc: print(exc)\n")
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{free_port()}", "MEDEMBED_MODEL_CACHE": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"hf-hub:org/model/{name} is not in the model cache ({tmp_path}) and the hub cannot be reached from here"
        for name in ("a.safetensors", "b.bin")]
    assert completed.stderr.count('"hub_unreachable"') == 1
    assert "Retrying" not in completed.stderr


def test_the_catalog_command_flags_random_weights():
    completed = subprocess.run([*ENCODER, "catalog", "--catalog", str(TEST_CATALOG)], capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0
    assert '"id": "efficientnet-lite0-random", "family": "timm"' in completed.stdout
    lines = {line.split('"id": "')[1].split('"')[0]: line for line in completed.stdout.splitlines()}
    assert '"random_weights": true' in lines["efficientnet-lite0-random"]
    assert '"random_weights": false' in lines["efficientnet-lite0-imagenet"]


def test_a_torchvision_download_is_a_log_event_naming_the_resolved_folder(tmp_path):
    """torch.hub prints a plain `Downloading: ...` line; the log stays JSON lines, and without
    TORCH_HOME the folder named is torch.hub's resolved one, not the words TORCH_HOME/hub/checkpoints.
    The download is refused at once by a proxy on a closed loopback port."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("TORCH_HOME", "XDG_CACHE_HOME", "MEDEMBED_MODEL_CACHE")}
    closed = f"http://127.0.0.1:{free_port()}"
    env.update(HOME=str(tmp_path), https_proxy=closed, HTTPS_PROXY=closed, no_proxy="", NO_PROXY="")
    completed = subprocess.run([*ENCODER, "serve", "--models", "resnet50", "--port", "0", "--metrics-port", "-1",
                                "--cache-url", "none", "--device", "cpu"], capture_output=True, text=True,
                               timeout=180, env=env)
    assert completed.returncode == 3
    folder = tmp_path / ".cache" / "torch" / "hub" / "checkpoints"
    assert completed.stdout == ""
    events = [json.loads(line) for line in completed.stderr.splitlines() if line.startswith("{")]
    (download,) = [e for e in events if e["event"] == "weights_download"]
    assert download["path"] == str(folder / "resnet50-0676ba61.pth")  # torchvision's ResNet50_Weights URL's file
    (listening,) = [e for e in events if e["event"] == "server_listening"]
    assert listening["serving"] is False and "model_load_failed stops it" in listening["meaning"]
    assert not [e for e in events if e["event"] == "server_serving"]
    # The problem and its next step, each one line; a library's own stderr line came beside them once, under
    # parallel test load, so they are looked for among the lines rather than counted.
    lines = user_lines(completed)
    problem = (f"medembed-encoder: model 'resnet50': torchvision weights IMAGENET1K_V1 are not in {folder} and could "
               "not be downloaded")
    assert [line.startswith(problem) for line in lines].count(True) == 1, lines
    assert [line.startswith("Next: ") for line in lines].count(True) == 1, lines
    assert "TORCH_HOME/hub" not in completed.stderr and "Downloading" not in completed.stderr


def test_server_serving_is_logged_once_every_model_is_ready(tiny_server):
    events = [json.loads(line) for line in tiny_server.log_path.read_text().splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert names.index("server_listening") < names.index("server_serving")
    ready = [i for i, name in enumerate(names) if name == "model_ready"]
    assert len(ready) == 2 and max(ready) < names.index("server_serving")
