"""Secrets never reach a message or a log line: one helper (medembed_proto.redact) used by the
encoder's log formatter, client errors, the evaluator and configuration errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from medembed_client.results import EmbedError
from medembed_encoder import config
from medembed_encoder.cache import build_cache
from medembed_encoder.logs import MAX_FIELD_CHARS, JsonLineFormatter
from medembed_encoder.metrics import EncoderMetrics
from medembed_evaluator.errors import PublishError
from medembed_evaluator.publish.stream import publish_to_stream
from medembed_proto.redact import RedactingFormatter, redact, register_secret, shorten


@pytest.mark.parametrize(("text", "secret"), [
    ("redis://:hunter2pw@redis:6379/0", "hunter2pw"),
    ("rediss://encoder:s3cr3t-pass@redis.internal:6380/1", "s3cr3t-pass"),
    ("cannot connect to 'redis://results:abc%40def@host:6379'", "abc%40def"),
    ("postgresql://user:pa55word@db/x and more", "pa55word"),
    ("metadata (('authorization', 'Bearer tok_0123456789abcdef'),)", "tok_0123456789abcdef"),
    ("https://host/path?token=qwertyuiop&x=1", "qwertyuiop"),
    ("redis://host:6379/0?password=zzzzzzzz", "zzzzzzzz"),
])
def test_secrets_in_text_are_masked(text, secret):
    masked = redact(text)
    assert secret not in masked and "***" in masked


def test_text_without_secrets_is_unchanged():
    for text in ("redis://redis:6379/0", "unknown model 'x'", "ipv4:127.0.0.1:1,127.0.0.1:2", "a bearer token"):
        assert redact(text) == text


def test_registered_secrets_are_masked_anywhere():
    register_secret("registered-value-42")
    assert redact("got registered-value-42 back") == "got *** back"
    register_secret("abc")  # too short to mask safely: ignored
    assert redact("abc") == "abc"


def test_shorten_says_how_much_was_cut():
    assert shorten("x" * 10, 20) == "x" * 10
    assert shorten("x" * 30, 10) == "x" * 10 + "...[20 more characters]"


def test_client_errors_are_redacted():
    error = EmbedError("UNAVAILABLE", "failed to connect to redis://:topsecret@h:1 " + "y" * 10_000)
    assert "topsecret" not in str(error) and len(error.message) < 2100


def test_cache_url_config_errors_are_redacted():
    settings = config.Settings(models=("m",), cache_url="http://admin:hunter2@redis:6379")
    with pytest.raises(config.ConfigError) as caught:
        build_cache(settings, EncoderMetrics())
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)


def test_the_server_cli_never_prints_the_password():
    completed = subprocess.run([sys.executable, "-m", "medembed_encoder.cli", "serve", "--models", "x",
                                "--cache-url", "http://u:hunter2@redis"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "hunter2" not in completed.stderr + completed.stdout


def test_server_log_lines_are_redacted_and_bounded():
    register_secret("cache-password-from-file")
    record = logging.LogRecord("medembed_encoder.x", logging.INFO, __file__, 1, "rpc_rejected", None, None)
    record.fields = {"error": "AUTH cache-password-from-file failed at redis://:pw12345@h:1",
                     "model": "m" * 100_000, "nested": [{"example": "Bearer abcdefghijkl"}]}
    line = JsonLineFormatter().format(record)
    assert "cache-password-from-file" not in line and "pw12345" not in line and "abcdefghijkl" not in line
    assert len(line) < 4 * MAX_FIELD_CHARS
    assert json.loads(line)["model"].startswith("m" * MAX_FIELD_CHARS + "...[")


def test_the_evaluators_log_formatter_redacts():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "publishing to %s", ("redis://:pwpwpwpw@r",), None)
    assert "pwpwpwpw" not in RedactingFormatter("%(message)s").format(record)


def test_publish_errors_name_the_url_without_its_password(tmp_path):
    from helpers.servers import free_port
    from unit.evaluator.test_publish import _pair

    url = f"redis://results:streampassword@127.0.0.1:{free_port()}/0"
    with pytest.raises(PublishError) as caught:
        publish_to_stream(url, _pair("m", "non-VLM", "d", 0.5, 0.5), run_id="r", timeout_s=0.5)
    assert "streampassword" not in str(caught.value) and "127.0.0.1" in str(caught.value)


def test_secret_settings_have_no_flag_and_no_repr():
    settings = config.Settings(models=("m",), tokens=("t" * 20,))
    assert "t" * 20 not in repr(settings)
    import argparse

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    assert "--tokens" not in parser.format_help()
    assert config.from_sources(environ={"MEDEMBED_MODELS": "m", "MEDEMBED_TOKENS": "a" * 16 + "," + "b" * 16}).tokens \
        == ("a" * 16, "b" * 16)
    with pytest.raises(config.ConfigError, match="at least 16"):
        config.from_sources(environ={"MEDEMBED_MODELS": "m", "MEDEMBED_TOKENS": "short"})
