"""The encoders a plan runs against: one client per target, and every model's provenance checked
before any image is sent (a model that is not served, or an unknown embedding spec, stops the run
at its start)."""

from __future__ import annotations

import logging
import os

from medembed_client import ChannelSecurity, Client, EmbedError, ModelInfo, RetryPolicy, security_from
from medembed_client.models import UnknownSpec
from medembed_evaluator.errors import EncoderUnavailable, PlanError
from medembed_evaluator.plan.schema import ModelEntry, Plan
from medembed_evaluator.provenance import ModelProvenance
from medembed_evaluator.raw_pixels import RAW_PIXELS_MODEL_ID, raw_pixels_provenance

log = logging.getLogger(__name__)
CALL_TIMEOUT_S = 300.0  # one chunk's call, retries included; longer when --encoder-wait asks for more


def plan_security(plan: Plan) -> ChannelSecurity:
    """The plan's `security:` files, under the MEDEMBED_TLS_* / MEDEMBED_TOKEN* env vars (which win)."""
    return security_from(environ={**plan.security.as_env(), **os.environ})


def retry_policy(wait_s: float) -> RetryPolicy:
    """Retry an encoder that is down, draining or overloaded for up to `wait_s` seconds, then give up."""
    return RetryPolicy(max_elapsed_s=wait_s, initial_backoff_s=0.5, max_backoff_s=5.0)


def connect(plan: Plan, *, security: ChannelSecurity, request_items: int, concurrency: int,
            wait_s: float) -> dict[str, Client]:
    """One client per HOST:PORT the plan's models name: `request_items` images per request,
    `concurrency` requests in flight, retrying for `wait_s` seconds. The caller closes them."""
    targets = sorted({m.target for m in plan.models if m.target})
    return {target: Client(target, chunk_size=request_items, max_concurrency=concurrency,
                           retry=retry_policy(wait_s), security=security,
                           timeout_s=max(CALL_TIMEOUT_S, wait_s + 60)) for target in targets}


def model_provenance(models: list[ModelEntry], clients: dict[str, Client]) -> dict[str, ModelProvenance]:
    """model id -> its provenance, from each encoder's ListModels (the plan's spec, or the model's
    default spec, resolved), and the raw-pixels baseline's own.

    Raises:
        EncoderUnavailable: an encoder does not answer within the clients' retry window.
        PlanError: a model is not served by its target, or has no such embedding spec.
    """
    provenance = {RAW_PIXELS_MODEL_ID: raw_pixels_provenance()}
    served: dict[str, dict[str, ModelInfo]] = {}
    for target, client in clients.items():
        try:
            served[target] = {info.id: info for info in client.list_models()}
        except EmbedError as exc:
            raise EncoderUnavailable(f"no encoder answers at {target} ({exc.code}) within --encoder-wait: is it "
                                     "running? Start it with `medembed-encoder serve --models ID,...`, or point "
                                     "the plan's `encoders:` (or --encoder NAME=HOST:PORT) at it") from None
    for model in models:
        if model.id == RAW_PIXELS_MODEL_ID:
            continue
        info = served[model.target].get(model.id) if model.target else None
        if info is None:
            raise PlanError(f"model {model.id!r} is not served by {model.target}; it serves "
                            f"{sorted(served.get(model.target or '', {}))}")
        try:
            provenance[model.id] = ModelProvenance.served(info, model.spec)
        except UnknownSpec as exc:
            raise PlanError(str(exc)) from None
        if info.random_weights:
            log.warning("%s is served with random weights by %s: its row measures an untrained network",
                        model.id, model.target)
    return provenance
