"""TLS, mutual TLS, bearer tokens, the health and reflection policy and the metrics host, against
real servers on loopback with certificates made here (tests/helpers/tls.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import grpc
import numpy as np
import pytest
import yaml
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from helpers.images import png
from helpers.servers import start_server
from helpers.tls import CertAuthority
from medembed_client import ChannelSecurity, Client, EmbedError, RetryPolicy, check_health
from medembed_proto.security import sync_channel

MODEL = "tiny-timm"
ONCE = RetryPolicy(max_attempts=1)
TOKENS = ("env-token-0123456789abcdef", "env-token-rotated-fedcba9876")
FILE_TOKEN = "file-token-aaaaaaaaaaaaaaaa"


def embed_one(target: str, security: ChannelSecurity, **options: object) -> np.ndarray:
    with Client(target, security=security, timeout_s=10, retry=ONCE, **options) as client:
        return client.embed([png(0)], MODEL).vectors


def refused(target: str, security: ChannelSecurity) -> EmbedError:
    with pytest.raises(EmbedError) as caught:
        embed_one(target, security)
    return caught.value


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CertAuthority:
    return CertAuthority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def reference(tiny_server) -> np.ndarray:
    return embed_one(tiny_server.target, ChannelSecurity())


@pytest.fixture(scope="module")
def tls_token_server(tmp_path_factory, ca):
    """TLS, tokens from the env and from a file, a plaintext health-only port, reflection auto."""
    directory = tmp_path_factory.mktemp("tls-token")
    issued = ca.issue("server")
    token_file = directory / "tokens"
    token_file.write_text(f"# accepted tokens\n{FILE_TOKEN}\n")
    from helpers.servers import free_port

    health_port = free_port()
    server = start_server(MODEL, directory, tls_cert=issued.cert, tls_key=issued.key, token_file=token_file,
                          health_port=health_port, env={"MEDEMBED_TOKENS": ",".join(TOKENS)},
                          security=ChannelSecurity(tls_ca=str(ca.cert)))
    server.token_file, server.health_port = token_file, health_port
    yield server
    server.stop()


def test_tls_with_the_right_ca_and_a_token_gets_the_plaintext_vectors(tls_token_server, ca, reference):
    security = ChannelSecurity(tls_ca=str(ca.cert), token=TOKENS[0])
    np.testing.assert_allclose(embed_one(tls_token_server.target, security), reference, atol=1e-6)


def test_tls_refuses_plaintext_and_an_unknown_ca(tls_token_server, tmp_path):
    assert refused(tls_token_server.target, ChannelSecurity(token=TOKENS[0])).code == "UNAVAILABLE"
    stranger = CertAuthority(tmp_path / "other", name="some other CA")
    assert refused(tls_token_server.target, ChannelSecurity(tls_ca=str(stranger.cert), token=TOKENS[0])).code \
        == "UNAVAILABLE"


def test_token_missing_or_wrong_is_unauthenticated_and_not_retried(tls_token_server, ca):
    before = tls_token_server.metric("medembed_rejected_requests_total", code="UNAUTHENTICATED")
    missing = refused(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert)))
    assert missing.code == "UNAUTHENTICATED" and "bearer token" in missing.message
    wrong_token = "wrong-token-0000000000000000"
    wrong = refused(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=wrong_token))
    assert wrong.code == "UNAUTHENTICATED" and wrong_token not in str(wrong)
    # Default retry policy: UNAUTHENTICATED is final, so one refusal per call.
    with Client(tls_token_server.target, security=ChannelSecurity(tls_ca=str(ca.cert)), timeout_s=10) as client, \
            pytest.raises(EmbedError, match="UNAUTHENTICATED"):
        client.embed([png(1)], MODEL)
    after = tls_token_server.metric("medembed_rejected_requests_total", code="UNAUTHENTICATED")
    assert after - before == 3
    assert tls_token_server.metric("medembed_rejected_requests_total", reason="wrong_token") >= 1
    assert wrong_token not in tls_token_server.log()


@pytest.mark.parametrize("token", [*TOKENS, FILE_TOKEN])
def test_every_configured_token_is_accepted(tls_token_server, ca, token, reference):
    vectors = embed_one(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=token))
    np.testing.assert_allclose(vectors, reference, atol=1e-6)


def wait_until_accepted(target: str, security: ChannelSecurity, within_s: float = 60) -> None:
    """Until a call with `security` is answered: the server reloads its token file every few seconds."""
    give_up = time.monotonic() + within_s
    while True:
        try:
            embed_one(target, security)
            return
        except EmbedError:
            assert time.monotonic() < give_up, "the new token was never accepted"
            time.sleep(0.3)


def test_token_file_rotation_needs_no_restart(tls_token_server, ca):
    new_token = "file-token-rotated-bbbbbbbbbbbb"
    tls_token_server.token_file.write_text(f"{new_token}\n")
    try:
        wait_until_accepted(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=new_token))
        assert refused(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=FILE_TOKEN)).code \
            == "UNAUTHENTICATED"
    finally:
        tls_token_server.token_file.write_text(f"{FILE_TOKEN}\n")
    assert new_token not in tls_token_server.log() and FILE_TOKEN not in tls_token_server.log()


def test_a_removed_token_stops_working_whatever_else_the_file_holds(tls_token_server, ca):
    """Revocation holds: the file is applied line by line, so an invalid line elsewhere neither keeps
    the removed token alive nor blocks the new one; the warning names the line, never its text."""
    new_token = "file-token-after-revocation-cccc"
    bad_line = "short token"
    tls_token_server.token_file.write_text(f"# rotated\n{bad_line}\n{new_token}\n")
    try:
        wait_until_accepted(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=new_token))
        assert refused(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=FILE_TOKEN)).code \
            == "UNAUTHENTICATED"
        skipped = [json.loads(line) for line in tls_token_server.log().splitlines()
                   if '"token_file_lines_skipped"' in line]
        assert skipped and skipped[-1]["lines"] == [2]
        assert bad_line not in tls_token_server.log() and new_token not in tls_token_server.log()
    finally:
        tls_token_server.token_file.write_text(f"{FILE_TOKEN}\n")
    give_up = time.monotonic() + 10
    while True:  # leave the fixture as it was for the tests after this one
        try:
            embed_one(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=FILE_TOKEN))
            break
        except EmbedError:
            assert time.monotonic() < give_up, "the restored token was never accepted"
            time.sleep(0.3)


def test_health_is_open_and_the_health_port_is_plaintext(tls_token_server, ca):
    assert check_health(tls_token_server.target, security=ChannelSecurity(tls_ca=str(ca.cert))) == "SERVING"
    assert check_health(f"127.0.0.1:{tls_token_server.health_port}", service=MODEL) == "SERVING"
    # The health port serves health only: no embedding over plaintext.
    assert refused(f"127.0.0.1:{tls_token_server.health_port}", ChannelSecurity(token=TOKENS[0])).code \
        == "UNIMPLEMENTED"


def test_reflection_is_off_when_tokens_are_set(tls_token_server, ca):
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with sync_channel(tls_token_server.target, ChannelSecurity(tls_ca=str(ca.cert), token=TOKENS[0])) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ServerReflectionInfo(iter([request]), timeout=5, metadata=(("authorization",
                                                                                f"Bearer {TOKENS[0]}"),)))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_stays_on_without_tokens(tiny_server):
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    with grpc.insecure_channel(tiny_server.target) as channel:
        responses = list(reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([request]),
                                                                                               timeout=5))
    names = {s.name for s in responses[0].list_services_response.service}
    assert "medembed.v1.Encoder" in names


def test_mutual_tls_refuses_a_client_without_a_certificate(tmp_path, ca, reference):
    issued = ca.issue("mtls-server")
    server = start_server(MODEL, tmp_path, tls_cert=issued.cert, tls_key=issued.key, tls_client_ca=ca.cert,
                          security=ChannelSecurity(tls_ca=str(ca.cert), tls_cert=str(ca.issue("probe", client=True)
                                                                                      .cert),
                                                   tls_key=str(ca.directory / "probe.key")))
    try:
        assert refused(server.target, ChannelSecurity(tls_ca=str(ca.cert))).code == "UNAVAILABLE"
        stranger = CertAuthority(tmp_path / "other", name="some other CA").issue("intruder", client=True)
        assert refused(server.target, ChannelSecurity(tls_ca=str(ca.cert), tls_cert=str(stranger.cert),
                                                      tls_key=str(stranger.key))).code == "UNAVAILABLE"
        client_cert = ca.issue("client", client=True)
        vectors = embed_one(server.target, ChannelSecurity(tls_ca=str(ca.cert), tls_cert=str(client_cert.cert),
                                                           tls_key=str(client_cert.key)))
        np.testing.assert_allclose(vectors, reference, atol=1e-6)
        assert '"tls": "mutual"' in server.log()
    finally:
        server.stop()


def _metrics_reachable(host: str, port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=3).read()
        return True
    except OSError:
        return False


def test_metrics_follow_the_grpc_host_by_default(tiny_server):
    """tiny_server binds gRPC to 127.0.0.1: its metrics are not on 127.0.0.2, as with 0.0.0.0 they were."""
    assert _metrics_reachable("127.0.0.1", tiny_server.metrics_port)
    assert not _metrics_reachable("127.0.0.2", tiny_server.metrics_port)


def test_metrics_host_setting_is_honoured(tmp_path):
    server = start_server(MODEL, tmp_path, metrics_host="127.0.0.2")
    try:
        assert _metrics_reachable("127.0.0.2", server.metrics_port)
        assert not _metrics_reachable("127.0.0.1", server.metrics_port)
        assert server.metric("medembed_model_ready", model=MODEL) == 1
    finally:
        server.stop()


def run_module(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_the_cli_speaks_tls_and_tokens_by_flag_or_env(tls_token_server, ca, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(f"# the evaluator's token\n{TOKENS[1]}\n")
    target = tls_token_server.target
    listed = run_module("medembed_client.cli", "--target", target, "--tls-ca", str(ca.cert), "--token-file",
                        str(token_file), "models", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout.splitlines()[0])["id"] == MODEL, listed.stderr
    by_env = run_module("medembed_client.cli", "models",
                        env={"MEDEMBED_TARGET": target, "MEDEMBED_TLS_CA": str(ca.cert), "MEDEMBED_TOKEN": TOKENS[0]})
    assert by_env.returncode == 0 and MODEL in by_env.stdout, by_env.stderr
    no_token = run_module("medembed_client.cli", "--target", target, "--tls-ca", str(ca.cert), "models")
    assert no_token.returncode == 3 and "UNAUTHENTICATED" in no_token.stderr
    (tmp_path / "a.png").write_bytes(png(0))
    embedded = run_module("medembed_client.cli", "embed", str(tmp_path / "a.png"), "--model", MODEL, "--out",
                          str(tmp_path / "a.npy"), "--quiet", "--tls-ca", str(ca.cert), "--token-file", str(token_file),
                          env={"MEDEMBED_TARGET": target})
    assert embedded.returncode == 0, embedded.stderr
    assert TOKENS[1] not in listed.stderr + no_token.stderr + embedded.stderr


def test_the_healthcheck_speaks_tls_and_finds_the_health_port(tls_token_server, ca):
    checked = run_module("medembed_client.healthcheck", "--target", tls_token_server.target,
                         env={"MEDEMBED_TLS_CA": str(ca.cert)})
    assert checked.returncode == 0 and checked.stdout.split() == [tls_token_server.target, "SERVING"]
    plaintext = run_module("medembed_client.healthcheck", "--target", tls_token_server.target, "--timeout", "2")
    assert plaintext.returncode == 1
    # The container HEALTHCHECK: no arguments, the server's own env (health port set, TLS on the main port).
    own = run_module("medembed_client.healthcheck", env={"MEDEMBED_PORT": str(tls_token_server.port),
                                                         "MEDEMBED_HEALTH_PORT": str(tls_token_server.health_port)})
    assert own.returncode == 0 and own.stdout.split() == [f"localhost:{tls_token_server.health_port}", "SERVING"]


def evaluator_plan(path, target: str, **extra: object):
    path.write_text(yaml.safe_dump({
        "name": "tls", "encoders": {"default": target}, "models": [{"id": MODEL, "group": "non-VLM"}],
        "datasets": [{"name": "phantoms", "kind": "phantoms", "options": {"n_per_class": 12, "size": 48}}],
        "protocol": {"seed": 0, "folds": 2}, **extra}))
    return path


def test_the_evaluator_speaks_tls_and_tokens_by_flag_and_by_plan(tls_token_server, ca, tmp_path, capsys):
    from medembed_evaluator.cli import main as evaluate

    token_file = tmp_path / "token"
    token_file.write_text(f"{FILE_TOKEN}\n")
    plan = evaluator_plan(tmp_path / "plan.yaml", tls_token_server.target)
    flags = ["--tls-ca", str(ca.cert), "--token-file", str(token_file)]
    assert evaluate(["run", str(plan), "--out", str(tmp_path / "a"), "--quiet", "--encoder-wait", "5", *flags]) == 0
    assert evaluate(["run", str(plan), "--out", str(tmp_path / "b"), "--quiet", "--encoder-wait", "5",
                     "--tls-ca", str(ca.cert)]) == 2
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    in_plan = evaluator_plan(tmp_path / "secure.yaml", tls_token_server.target,
                             security={"tls_ca": str(ca.cert), "token_file": str(token_file)})
    assert evaluate(["run", str(in_plan), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert FILE_TOKEN not in capsys.readouterr().err


def test_a_plan_cannot_hold_a_token_value(tmp_path):
    from medembed_evaluator.errors import PlanError
    from medembed_evaluator.plan.load import load_plan

    plan = evaluator_plan(tmp_path / "plan.yaml", "localhost:1", security={"token": "value-in-a-file-0000"})
    with pytest.raises(PlanError, match="security.token: a token's value never goes in a plan"):
        load_plan(plan)


def test_item_messages_from_a_file_with_control_bytes_are_one_printable_line(tiny_server):
    """A DICOM whose transfer syntax UID holds a newline, a terminal escape, a bell and UTF-8: the
    decoder names the UID in its message; the message on the wire is one line of printable ASCII."""
    from helpers.dicom import dicom_bytes
    from medembed_proto.v1 import encoder_pb2 as pb
    from medembed_proto.v1 import encoder_pb2_grpc as pb_grpc

    clean = dicom_bytes(np.zeros((16, 16), np.uint16))
    uid = b"1.2.840.10008.1.2.1\x00"  # explicit VR little endian, as pydicom writes it in the file meta
    hostile = b"1.2.840.10\n\xc3\xa9\x1b[31m\x071"
    assert clean.count(uid) == 1 and len(hostile) == len(uid)
    with grpc.insecure_channel(tiny_server.target) as channel:
        response = pb_grpc.EncoderStub(channel).Embed(pb.EmbedRequest(
            model=MODEL, items=[pb.Item(data=clean.replace(uid, hostile)), pb.Item(data=png(3))]), timeout=30)
    bad, good = response.results
    message = bad.status.message
    assert bad.status.code == pb.ITEM_CODE_UNSUPPORTED_FORMAT and good.status.code == pb.ITEM_CODE_OK
    assert message.isascii() and message.isprintable() and "\n" not in message, repr(message)
    assert "transfer syntax 1.2.840.10\\n\\xc3\\xa9\\x1b[31m\\x071" in message
    assert len(message) <= 450
