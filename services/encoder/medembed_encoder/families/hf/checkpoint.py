"""Selective reads of named tensors from a Hugging Face checkpoint folder (local or on the hub).

Multi-billion-parameter VLM checkpoints are mostly language model. For safetensors checkpoints only
the index is read to learn which shard holds which tensor; then only the shards holding requested
tensors are fetched and opened (memory-mapped by safetensors), and only the requested tensors are
copied out. The language model is never materialized, and on the hub its shards are never
downloaded. Folders with a single `pytorch_model.bin` (older towers) are read whole, tensors only.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

import torch
from safetensors import safe_open
from transformers import PretrainedConfig, PreTrainedModel

from ...load_errors import ModelLoadError, WeightsUnavailable
from ...weights.checkpoints import read_state_dict
from ...weights.hub import FileSource, MissingFile

SAFETENSORS_INDEX = "model.safetensors.index.json"
SAFETENSORS_SINGLE = "model.safetensors"
TORCH_SINGLE = "pytorch_model.bin"


class TensorCheckpoint(Protocol):
    """A checkpoint whose tensors can be listed and read by name, without reading the others."""

    description: str

    def names(self) -> set[str]:
        """Every tensor name the checkpoint holds."""
        ...

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The named tensors, on the CPU; KeyError for a name the checkpoint lacks."""
        ...


class SafetensorsCheckpoint:
    """A sharded or single safetensors checkpoint: only the shards holding requested tensors are fetched and opened."""

    def __init__(self, source: FileSource, shard_of: dict[str, str]) -> None:
        self.source = source
        self.description = source.description
        self.shard_of = shard_of  # tensor name -> shard file name

    def names(self) -> set[str]:
        """Every tensor name of the index (or of the single file)."""
        return set(self.shard_of)

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The named tensors, on the CPU, read shard by shard (memory-mapped); KeyError for an unknown name,
        MissingFile or WeightsUnavailable when a shard cannot be had.
        """
        by_shard: dict[str, list[str]] = defaultdict(list)
        for name in names:
            by_shard[self.shard_of[name]].append(name)
        tensors = {}
        for shard, shard_names in by_shard.items():
            with safe_open(str(self.source.get(shard)), framework="pt", device="cpu") as handle:
                for name in shard_names:
                    tensors[name] = handle.get_tensor(name)
        return tensors


class TorchCheckpoint:
    """A single pytorch_model.bin, read whole (tensors only)."""

    def __init__(self, description: str, state: dict[str, torch.Tensor]) -> None:
        self.description = description
        self.state = state

    def names(self) -> set[str]:
        """Every tensor name of the state dict."""
        return set(self.state)

    def read(self, names: Iterable[str]) -> dict[str, torch.Tensor]:
        """The named tensors; KeyError for an unknown name."""
        return {name: self.state[name] for name in names}


def open_hf_checkpoint(source: FileSource) -> TensorCheckpoint:
    """The checkpoint in `source`: sharded or single safetensors, else a single pytorch_model.bin."""
    misses = []
    try:
        index = json.loads(source.get(SAFETENSORS_INDEX).read_text())
        return SafetensorsCheckpoint(source, dict(index["weight_map"]))
    except MissingFile as exc:
        misses.append(str(exc))
    except (ValueError, KeyError) as exc:
        raise ModelLoadError(f"{source.description}/{SAFETENSORS_INDEX}: not a safetensors index ({exc})") from None
    try:
        with safe_open(str(source.get(SAFETENSORS_SINGLE)), framework="pt") as single:
            return SafetensorsCheckpoint(source, dict.fromkeys(single.keys(), SAFETENSORS_SINGLE))
    except MissingFile as exc:
        misses.append(str(exc))
    try:
        return TorchCheckpoint(source.description, read_state_dict(source.get(TORCH_SINGLE)))
    except MissingFile as exc:
        misses.append(str(exc))
    raise WeightsUnavailable(f"no checkpoint in {source.description}: {'; '.join(misses)}")


class Prefix(NamedTuple):
    """One checkpoint layout's name prefix: which tensors to read and how to rename them."""

    select: str  # read the tensors whose names start with this
    strip: str  # and name them without this


def tensors_under(checkpoint: TensorCheckpoint, prefixes: Sequence[Prefix], what: str) -> dict[str, torch.Tensor]:
    """Read only the tensors under the first of `prefixes` the checkpoint has (one per known layout)."""
    names = checkpoint.names()
    for prefix in prefixes:
        selected = [name for name in names if name.startswith(prefix.select)]
        if selected:
            return {name[len(prefix.strip):]: tensor for name, tensor in checkpoint.read(selected).items()}
    raise ModelLoadError(f"{checkpoint.description}: no {what} tensors under {[p.select for p in prefixes]}")


def load_hf_model(model_class: type[PreTrainedModel], config: PretrainedConfig, state: dict[str, torch.Tensor],
                  origin: str, **model_kwargs: object) -> PreTrainedModel:
    """Build `model_class` from `state` through transformers' own loader, which also renames the tensor
    names of checkpoints saved by older transformers versions; any name left over or missing is an error.
    `model_kwargs` go to the model's constructor (e.g. ViTModel's add_pooling_layer=False)."""
    model, info = model_class.from_pretrained(None, config=config, state_dict=state, output_loading_info=True,
                                              dtype=torch.float32, **model_kwargs)
    problems = {kind: sorted(info[kind])[:5] for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
                if info.get(kind)}
    if problems or info.get("error_msgs"):
        raise ModelLoadError(f"{origin}: does not fit {model_class.__name__}: {problems or info['error_msgs']}")
    return model
