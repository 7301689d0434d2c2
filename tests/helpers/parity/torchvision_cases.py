"""torchvision classifiers against torchvision: the model builder, the weights' own `transforms()`
and `create_feature_extractor` at the input of the classification layer."""

from __future__ import annotations

import torch
import torchvision
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

from .registry import BuiltCase, CaseContext, Reference, catalog_entry, parity_case


def random_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Random weights of `model`'s shapes, fast (no init routines), scaled so activations neither
    vanish nor explode through the network: fan-in scaling for weights, sane BatchNorm statistics."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in model.state_dict().items():
        shape = tuple(tensor.shape)
        if not tensor.is_floating_point():
            state[name] = torch.zeros(shape, dtype=tensor.dtype)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=generator) + 0.5
        elif len(shape) >= 2:
            state[name] = torch.randn(shape, generator=generator) * (tensor[0].numel() ** -0.5)
        elif name.endswith("weight"):  # norm scales
            state[name] = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            state[name] = 0.1 * torch.randn(shape, generator=generator)
    return state


def _classifier_case(ctx: CaseContext, model_id: str, seed: int) -> BuiltCase:
    entry = catalog_entry(model_id)
    architecture, weights_name = entry["architecture"], entry["weights"]["ref"]
    ctx.work.mkdir(parents=True, exist_ok=True)
    path = ctx.work / f"{architecture}.pth"  # torchvision's release format: torch.save(state_dict)
    with torch.device("meta"):
        skeleton = torchvision.models.get_model(architecture, weights=None)
    torch.save(random_state(skeleton, seed), path)
    with torch.device("meta"):  # torchvision's builder, then the file's tensors (no time spent on init)
        model = torchvision.models.get_model(architecture, weights=None).eval()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), assign=True)
    assert not any(tensor.is_meta for tensor in [*model.parameters(), *model.buffers()])
    nodes = get_graph_node_names(model)[1]
    extractor = create_feature_extractor(model, return_nodes={nodes[-2]: "features"})  # input of the classifier
    preprocess = torchvision.models.get_model_weights(architecture)[weights_name].transforms()
    entry["weights"] = {"kind": "local", "ref": str(path)}
    entry["options"] = {"weights_transforms": weights_name}
    return BuiltCase(entry, {"default": Reference(
        f"torchvision get_model({architecture!r}); {weights_name}.transforms(); "
        f"create_feature_extractor(return_nodes={nodes[-2]!r})",
        lambda image: extractor(preprocess(image.convert("RGB")).unsqueeze(0))["features"][0])},
        "served from a local .pth (the catalog downloads it)")


for _seed, _model_id in enumerate(["vgg16", "resnet50", "vit-l-16"], start=40):
    parity_case(_model_id, "torchvision")(lambda ctx, model_id=_model_id, seed=_seed: _classifier_case(ctx, model_id,
                                                                                                       seed))
