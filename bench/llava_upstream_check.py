"""Manual check: medembed's LLaVA-Med and LLaVA-Med++ vectors vs the upstream repositories' own code.

The upstreams live only on GitHub, so the tests compare each stage with library functions; this
script runs the real upstream code on the same tiny checkpoints (tests/helpers/llava_upstream.py)
and prints the max abs difference of `default`. It needs checkouts of microsoft/LLaVA-Med,
UCSC-VLAA/MedTrinity-25M and bfshi/scaling_on_scales (s2wrapper, which needs `einops`):

    python bench/llava_upstream_check.py --llava-med ../LLaVA-Med --medtrinity ../MedTrinity-25M \
        --s2wrapper ../scaling_on_scales

Upstream code is loaded from those folders (their mm_utils.py, clip_encoder.py and projector
builder.py; the packages' __init__ imports the language models and is skipped). The upstreams pin
transformers 4.36/4.37, whose CLIPImageProcessor was the PIL one; transformers 5's is torchvision,
so its PIL class is put in its place. LLaVA-Med's expand2square draws its pad offset at random;
it is fixed to the lower outcome, then the other outcome is reported too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers.llava_upstream import write_clip_repo, write_llava_checkpoint  # noqa: E402
from medembed_encoder.catalog import CatalogEntry, WeightsSource  # noqa: E402
from medembed_encoder.families import load_encoder  # noqa: E402

CPU = torch.device("cpu")


def _module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def upstream_code(repo: Path) -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """The repo's mm_utils, clip_encoder and projector builder."""
    package = types.ModuleType("llava")
    package.__path__ = [str(repo / "llava")]
    sys.modules["llava"] = package
    for name in [name for name in sys.modules if name.startswith("llava.")]:
        del sys.modules[name]
    _module("llava.constants", repo / "llava/constants.py")
    mm_utils = _module(f"{repo.name}_mm_utils", repo / "llava/mm_utils.py")
    encoder = _module(f"{repo.name}_clip_encoder", repo / "llava/model/multimodal_encoder/clip_encoder.py")
    projector = _module(f"{repo.name}_projector", repo / "llava/model/multimodal_projector/builder.py")
    encoder.CLIPImageProcessor = transformers.CLIPImageProcessorPil
    return mm_utils, encoder, projector


def upstream_default(code, checkpoint: Path, image: Image.Image, offset: str = "low") -> torch.Tensor:
    """encode_images(process_images([image], ...))[0].mean(0), built as LlavaMetaModel and load_pretrained_model do."""
    mm_utils, encoder, builder = code
    config = types.SimpleNamespace(**json.loads((checkpoint / "config.json").read_text()))
    tower_class = encoder.CLIPVisionTowerS2 if getattr(config, "s2", False) else encoder.CLIPVisionTower
    tower = tower_class(config.mm_vision_tower, args=config, delay_load=True)
    tower.load_model()
    projector = builder.build_vision_projector(config)
    state = {}
    for shard in checkpoint.glob("*.safetensors"):
        state |= load_file(str(shard))
    prefix = "model.mm_projector."
    projector.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
    saved = random.randint
    random.randint = (lambda a, b: a) if offset == "low" else (lambda a, b: b)
    try:
        pixels = mm_utils.process_images([image], tower.image_processor, config)
    finally:
        random.randint = saved
    with torch.inference_mode():
        return projector(tower(pixels))[0].mean(0)


def medembed_default(checkpoint: Path, options: dict, image: Image.Image) -> torch.Tensor:
    entry = CatalogEntry(id="check", family="hf", architecture="llava",
                         weights=WeightsSource("local", str(checkpoint)), options=options)
    encoder = load_encoder(entry, CPU, allow_random_weights=False)
    with torch.inference_mode():
        return encoder.specs["default"](encoder.collate([encoder.preprocess(image)], CPU))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llava-med", type=Path, required=True)
    parser.add_argument("--medtrinity", type=Path, required=True)
    parser.add_argument("--s2wrapper", type=Path, required=True, help="a checkout of bfshi/scaling_on_scales")
    args = parser.parse_args()
    sys.path.insert(0, str(args.s2wrapper))
    rng = np.random.default_rng(0)
    images = {"rgb 600x400": Image.fromarray(rng.integers(0, 256, (400, 600, 3), dtype=np.uint8)),
              "gray 300x500": Image.fromarray(rng.integers(0, 256, (500, 300), dtype=np.uint8))}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_clip_repo(root / "tower", seed=3)
        cases = [("llava_med", False, args.llava_med), ("medtrinity", True, args.medtrinity),
                 ("medtrinity", False, args.medtrinity)]
        for upstream, s2, repo in cases:
            code = upstream_code(repo)
            checkpoint = root / f"{upstream}-{s2}"
            _, options = write_llava_checkpoint(checkpoint, root / "tower", 4, upstream, s2=s2)
            for name, image in images.items():
                given = image if upstream == "llava_med" else image.convert("RGB")  # MedTrinity's loaders convert
                ours = medembed_default(checkpoint, options, image)
                difference = (ours - upstream_default(code, checkpoint, given)).abs().max().item()
                print(f"{upstream:10} s2={s2!s:5} {name:13} max abs difference {difference:.2e}")
                if upstream == "llava_med":
                    other = upstream_default(code, checkpoint, given, offset="high")
                    cosine = torch.nn.functional.cosine_similarity(ours, other, dim=0).item()
                    print(f"{'':10} {'':8} {name:13} vs the other random pad offset: cosine {cosine:.4f}")


if __name__ == "__main__":
    main()
