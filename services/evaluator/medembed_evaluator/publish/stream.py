"""Each finished pair as one entry on a Redis stream, for dashboards and downstream pipelines."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from medembed_evaluator.errors import PublishError
from medembed_evaluator.pair_result import PairResult
from medembed_proto.redact import redact, register_secret

RESULTS_STREAM = "medembed:results"
# Bounded (approximately) so a long-lived Redis does not grow without limit.
STREAM_MAXLEN = 100_000


def _password(password_file: str | None) -> dict[str, str]:
    if not password_file:
        return {}
    try:
        password = Path(password_file).read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError) as error:
        raise PublishError(f"Redis password file {password_file}: cannot read a password ({error})") from None
    register_secret(password)
    return {"password": password}


def publish_to_stream(redis_url: str | None, result: PairResult, *, run_id: str, timeout_s: float = 2.0,
                      password_file: str | None = None) -> str | None:
    """XADD {run_id, model, dataset, json} to `medembed:results`; returns the entry id.

    No URL means no stream: returns None. Redis errors raise PublishError naming the URL (its
    password redacted). `password_file` (a secret file) gives the password when the URL has none.
    """
    if not redis_url:
        return None
    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                      **_password(password_file))
    except ValueError as error:
        raise PublishError(redact(f"invalid Redis URL '{redis_url}': {error}")) from None
    fields = {
        "run_id": run_id,
        "model": result.model_id,
        "dataset": result.dataset,
        "json": json.dumps(result.to_dict()),
    }
    try:
        entry_id = client.xadd(RESULTS_STREAM, fields, maxlen=STREAM_MAXLEN, approximate=True)
    except redis.RedisError as error:
        raise PublishError(redact(f"cannot publish to Redis stream {RESULTS_STREAM} at {redis_url}: {error}")) \
            from error
    finally:
        client.close()
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
