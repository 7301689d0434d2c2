"""Layer classes named in a catalog's timm `model_kwargs`, resolved from their import path.

Model cards pass classes to `timm.create_model`, e.g. UNI2-h and Virchow2 (hub model cards
MahmoodLab/UNI2-h, paige-ai/Virchow2): `mlp_layer=timm.layers.SwiGLUPacked, act_layer=torch.nn.SiLU`.
A YAML catalog holds text, so the catalog writes the import path and this module resolves it. Only
attributes of `timm.layers` and `torch.nn` are resolved (no arbitrary imports); other strings pass
through unchanged, as timm resolves names like `silu` or `layernorm` itself.
"""

from __future__ import annotations

import functools
from typing import Any

import timm.layers
from torch import nn

from ..options import OptionsError

# create_model keyword arguments that take a layer class
LAYER_KWARGS = frozenset({"mlp_layer", "act_layer", "norm_layer", "embed_layer", "block_fn", "attn_layer",
                          "embed_norm_layer"})
MODULES = {"timm.layers.": timm.layers, "torch.nn.": nn}


def _is_layer(layer: Any) -> bool:
    """An nn.Module class, or a functools.partial of one (timm.layers.SwiGLUPacked is `partial(GluMlp, ...)`)."""
    if isinstance(layer, functools.partial):
        layer = layer.func
    return isinstance(layer, type) and issubclass(layer, nn.Module)


def resolve_layer(path: str, where: str) -> Any:
    """The class `path` names (`timm.layers.<Name>` or `torch.nn.<Name>`), or `path` itself when it has neither
    prefix. Raises OptionsError naming `where` for a name the module lacks or that is not an nn.Module class
    (or a partial of one)."""
    for prefix, module in MODULES.items():
        if path.startswith(prefix):
            layer = getattr(module, path[len(prefix):], None)
            if not _is_layer(layer):
                raise OptionsError(f"{where}: {path!r} is not a layer class of {prefix.rstrip('.')}")
            return layer
    return path


def resolve_model_kwargs(model_kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """`model_kwargs` with every layer argument (LAYER_KWARGS) given as an import path replaced by its class."""
    return {key: resolve_layer(value, f"{where}.{key}") if key in LAYER_KWARGS and isinstance(value, str) else value
            for key, value in model_kwargs.items()}
