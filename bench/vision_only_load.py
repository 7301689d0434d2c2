"""Peak memory of a vision-only load from a LLaVA-style sharded checkpoint vs the size of all its shards.

Writes, to a temporary directory, a checkpoint in the llava-hf layout of `llava-v1.6-mistral-7b`:
a random CLIP ViT-L/14-336 vision tower, projector and image_newline at their real size, the
catalog's config.json, plus dummy language-model shards (--lm-gb). A fresh child process then loads
the catalog entry through the hf family from that directory; its peak resident set size is compared
with the checkpoint's total size. The peak is the kernel's VmHWM of the child's own process image:
unlike ru_maxrss it does not inherit the writer's memory across fork/exec, and unlike tracemalloc it
sees tensor storage (allocated outside Python's allocator).

    python bench/vision_only_load.py [--lm-gb 4] [--shard-gb 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

MODEL_ID = "llava-v1.6-mistral-7b"
INDEX = "model.safetensors.index.json"
GIB = 2**30


def _text_width(config: dict) -> int:
    from transformers import LlavaNextConfig

    return LlavaNextConfig.from_dict(config).text_config.hidden_size


def _vision_tensors(config: dict) -> dict[str, torch.Tensor]:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    tower = CLIPVisionModel(CLIPVisionConfig(**config["vision_config"]))
    width, text_width = tower.config.hidden_size, _text_width(config)
    tensors = {f"vision_tower.vision_model.{name}": tensor for name, tensor in tower.state_dict().items()}
    tensors |= {"image_newline": torch.randn(text_width),
                "multi_modal_projector.linear_1.weight": torch.randn(text_width, width),
                "multi_modal_projector.linear_1.bias": torch.zeros(text_width),
                "multi_modal_projector.linear_2.weight": torch.randn(text_width, text_width),
                "multi_modal_projector.linear_2.bias": torch.zeros(text_width)}
    return {name: tensor.to(torch.bfloat16).contiguous() for name, tensor in tensors.items()}


def write_checkpoint(directory: Path, options: dict, lm_gb: float, shard_gb: float) -> tuple[int, int]:
    """Returns (bytes of all shards, bytes of the shard holding the vision tensors)."""
    weight_map: dict[str, str] = {}
    config = options["config"]
    (directory / "config.json").write_text(json.dumps(config))
    shard_tensors = [_vision_tensors(config)]
    text_width = _text_width(config)
    rows_per_layer = int(shard_gb * GIB / 2 / text_width / 4)  # 4 bf16 matrices per dummy layer
    lm_layers = max(1, round(lm_gb / shard_gb))
    for layer in range(lm_layers):
        shard_tensors.append({f"language_model.model.layers.{layer}.mlp.{name}.weight":
                              torch.zeros(rows_per_layer, text_width, dtype=torch.bfloat16)
                              for name in ("gate_proj", "up_proj", "down_proj", "o_proj")})
    sizes = []
    for number, tensors in enumerate(shard_tensors, start=1):
        shard = f"model-{number:05d}-of-{len(shard_tensors):05d}.safetensors"
        save_file(tensors, str(directory / shard))
        weight_map |= dict.fromkeys(tensors, shard)
        sizes.append((directory / shard).stat().st_size)
    (directory / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return sum(sizes), sizes[0]


def peak_rss_bytes() -> int:
    status = Path("/proc/self/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) * 1024


def child(directory: str) -> None:
    from medembed_encoder.catalog import WeightsSource, load_catalog
    from medembed_encoder.families import load_encoder

    entry = dataclasses.replace(load_catalog()[MODEL_ID], weights=WeightsSource("local", directory))
    baseline = peak_rss_bytes()
    started = time.perf_counter()
    encoder = load_encoder(entry, torch.device("cpu"), allow_random_weights=False)
    print(json.dumps({"baseline": baseline, "peak": peak_rss_bytes(), "seconds": time.perf_counter() - started,
                      "spec_dims": encoder.spec_dims}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-gb", type=float, default=4.0, help="dummy language-model bytes, GiB")
    parser.add_argument("--shard-gb", type=float, default=2.0, help="language-model shard size, GiB")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from medembed_encoder.catalog import load_catalog

    with tempfile.TemporaryDirectory() as tmp:
        total, vision_shard = write_checkpoint(Path(tmp), load_catalog()[MODEL_ID].options, args.lm_gb, args.shard_gb)
        completed = subprocess.run([sys.executable, __file__, "--child", tmp], capture_output=True, text=True,
                                   check=True)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    peak, baseline = result["peak"], result["baseline"]
    print(f"{MODEL_ID} layout, vision-only load (incl. weights digest and one probe forward per spec) "
          f"in {result['seconds']:.1f} s; specs {result['spec_dims']}")
    print(f"checkpoint: {total / GIB:.2f} GiB in all shards; "
          f"vision tower + projector shard {vision_shard / GIB:.2f} GiB")
    print(f"child peak RSS {peak / GIB:.2f} GiB (after imports {baseline / GIB:.2f} GiB; "
          f"load added {(peak - baseline) / GIB:.2f} GiB)")
    print(f"peak RSS / all shards = {peak / total:.2f}; load increment / all shards = {(peak - baseline) / total:.2f}")


if __name__ == "__main__":
    main()
