"""Token poolings of a timm ViT other than timm's own head, for models whose authors probe them.

Virchow and Virchow2 (hub model cards paige-ai/Virchow and paige-ai/Virchow2; TRIDENT's
`VirchowInferenceEncoder` / `Virchow2InferenceEncoder.forward`) embed a tile as
`torch.cat([output[:, 0], output[:, k:].mean(1)], dim=-1)` where `output = model(x)` are all tokens
after the final norm (`global_pool=""`) and `k` skips the class token and the register tokens
(Virchow 1, Virchow2 1 + 4): the class token concatenated with the mean of the patch tokens. timm
names that offset `model.num_prefix_tokens`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...load_errors import ModelLoadError

POOLED = "pooled"  # timm's own model(x): forward_head(forward_features(x), pre_logits=True)
CLS_PATCH_MEAN = "cls_patch_mean"
EMBEDDINGS = (POOLED, CLS_PATCH_MEAN)
CLS_SPEC = "cls"


def _tokens(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """All tokens after the final norm, [N, prefix + patches, D] (timm `forward_features`)."""
    return model.forward_features(batch)


def class_token(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """[N, 3, H, W] -> [N, D]: the class token after the final norm."""
    return lambda batch: _tokens(model, batch)[:, 0]


def class_token_and_patch_mean(model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """[N, 3, H, W] -> [N, 2 D]: the class token concatenated with the mean of the patch tokens (prefix tokens,
    i.e. class and register tokens, left out of the mean)."""
    prefix = int(model.num_prefix_tokens)

    def embed(batch: torch.Tensor) -> torch.Tensor:
        tokens = _tokens(model, batch)
        return torch.cat([tokens[:, 0], tokens[:, prefix:].mean(1)], dim=-1)

    return embed


def token_specs(model: torch.nn.Module, embedding: str, model_id: str) -> dict[str, Callable]:
    """The specs besides timm's pooled `default` for `embedding` (EMBEDDINGS): {} for `pooled`; for
    `cls_patch_mean`, `default` (class token ⊕ patch mean) and `cls`. Raises ModelLoadError for another
    name or a model without prefix tokens."""
    if embedding == POOLED:
        return {}
    if embedding != CLS_PATCH_MEAN:
        raise ModelLoadError(f"model {model_id!r}: options.embedding {embedding!r} is not one of {list(EMBEDDINGS)}")
    if not getattr(model, "num_prefix_tokens", 0):
        raise ModelLoadError(f"model {model_id!r}: options.embedding {embedding!r} needs a ViT with a class token")
    return {"default": class_token_and_patch_mean(model), CLS_SPEC: class_token(model)}
