"""The vector identity: one digest of everything that can change a served vector.

It is computed here and nowhere else, per (model, spec) when a model is loaded, and it is
- `Provenance.vector_identity` of every response and `SpecInfo.vector_identity` in ListModels,
- the cache key's identity (`medembed:v1:{model_id}:{vector_identity}:{spec}:{sha256}`, cache/keys.py),
- the evaluator's feature-store key (feature_store.identity_digest).

Ingredients (`identity_document`): the weights digest; the family's validated catalog options as
canonical JSON (families/options.py, so no option can be left out); the family, architecture and
input size; the preprocessing description (the transform's repr); the decode rules
(`medembed_decode.rules_identity()`: rules version and decoder library versions, and
`medembed_decode.volume.volume_rules_identity()`: the volume rules' version and nibabel's, since a
volume item without volume options is read by them too); the code versions
(PIPELINE_CODE_VERSION for the shared bytes-to-vector path, the family module's CODE_NAME and
CODE_VERSION); the versions of the libraries that compute the vector (versions.library_versions:
torch, torchvision, the family's libraries, the decoders); the spec;
and the compute dtype and device type (fp16 autocast or TF32 convolutions on a GPU give other
numbers than fp32 on a CPU). The model id is not an ingredient: the cache key carries it beside.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from medembed_decode import rules_identity
from medembed_decode.volume import volume_rules_identity

from .versions import library_versions

if TYPE_CHECKING:
    import torch

    from .families.base import LoadedEncoder

IDENTITY_SCHEME = 1  # bump when an ingredient is added to or removed from the document
# Bump when code shared by every family between the image bytes and the vector changes its maths
# (families/base.py ConvertToRGB, runtime.py forward and its dtype handling, items.py).
PIPELINE_CODE_VERSION = 1


def identity_document(encoder: LoadedEncoder, spec: str, device: torch.device,
                      dtype: torch.dtype) -> dict[str, Any]:
    """Every ingredient of the identity of `encoder`'s vectors for `spec`, as plain data."""
    if encoder.code is None:
        raise ValueError(f"model {encoder.entry.id!r} was not loaded through families.load_encoder")
    entry = encoder.entry
    return {
        "scheme": IDENTITY_SCHEME,
        "family": entry.family,
        "architecture": entry.architecture,
        "input_size": entry.input_size,
        "weights": encoder.weights_digest,
        "options": json.loads(encoder.code.options),
        "preprocess": encoder.preprocess_description,
        "decode": f"{rules_identity()} {volume_rules_identity()}",
        "code": {"pipeline": PIPELINE_CODE_VERSION, encoder.code.module: encoder.code.code_version},
        "libraries": library_versions(entry.family),
        "spec": spec,
        "compute": {"dtype": str(dtype).removeprefix("torch."), "device": device.type},
    }


def digest_document(document: dict[str, Any]) -> str:
    """`sha256:<hex>` of the document as canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def vector_identities(encoder: LoadedEncoder, device: torch.device, dtype: torch.dtype) -> dict[str, str]:
    """spec name -> vector identity, for every spec the encoder offers."""
    return {spec: digest_document(identity_document(encoder, spec, device, dtype)) for spec in encoder.specs}
