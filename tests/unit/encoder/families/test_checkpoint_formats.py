"""Each upstream checkpoint format, written from a small random model in exactly that key layout,
loads through its family and embeds exactly as the source model does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from safetensors.torch import save_file
from torch import nn
from torchvision.models import resnet50
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, SwinConfig, SwinModel

from medembed_encoder.families.open_clip.conch import ConchVisual

from .support import assert_same, embed, images, load, local, tiny_entry

TINY_TEXT_CFG = {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1}


def _open_clip_checkpoint(model: nn.Module, path, text_extra: dict[str, torch.Tensor] | None = None) -> None:
    state = {key: tensor.detach().clone().contiguous() for key, tensor in model.state_dict().items()}
    state.update(text_extra or {})
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


def test_open_clip_vit_checkpoint(tmp_path):
    model_cfg = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16,
                                                 "patch_size": 8}, "text_cfg": TINY_TEXT_CFG}
    torch.manual_seed(1)
    clip = CLIP(**model_cfg).eval()
    _open_clip_checkpoint(clip, tmp_path / "open_clip_pytorch_model.bin")
    encoder = load(tiny_entry("open_clip", "tiny-vit", local(tmp_path), dim=16, model_cfg=model_cfg))
    batch = images(2, 32)
    with torch.inference_mode():
        expected = clip.encode_image(batch)
        assert_same(embed(encoder, "default", batch), expected)
        assert_same(embed(encoder, "pre_projection", batch) @ clip.visual.proj, expected)


def test_open_clip_timm_trunk_checkpoint_as_biomedclip(tmp_path):
    # BiomedCLIP's layout: visual.trunk.* (timm ViT), visual.head.proj.weight; its text tower is ignored
    model_cfg = {"embed_dim": 16, "vision_cfg": {"timm_model_name": "vit_tiny_patch16_224", "timm_pool": "",
                                                 "timm_proj": "linear", "image_size": 224}, "text_cfg": TINY_TEXT_CFG}
    torch.manual_seed(2)
    clip = CLIP(**model_cfg).eval()
    bert_word_embeddings = {"text.transformer.embeddings.word_embeddings.weight": torch.randn(30, 8)}
    _open_clip_checkpoint(clip, tmp_path / "open_clip_model.safetensors", bert_word_embeddings)
    encoder = load(tiny_entry("open_clip", "tiny-biomedclip", local(tmp_path), dim=16, model_cfg=model_cfg))
    batch = images(2, 224)
    with torch.inference_mode():
        assert_same(embed(encoder, "default", batch), clip.encode_image(batch))
        assert_same(embed(encoder, "pre_projection", batch), clip.visual.trunk(batch))


# Tensor names of the released CONCH checkpoint (conch/open_clip_custom/vision_tower.py: VisualModel
# with a timm trunk; nn.MultiheadAttention with kdim != embed_dim keeps separate q/k/v weights).
CONCH_NAMES = [
    "visual.trunk.cls_token", "visual.trunk.pos_embed", "visual.trunk.patch_embed.proj.weight",
    "visual.trunk.blocks.0.attn.qkv.weight", "visual.trunk.blocks.1.mlp.fc2.bias", "visual.trunk.norm.weight",
    "visual.attn_pool_contrast.query", "visual.attn_pool_contrast.attn.q_proj_weight",
    "visual.attn_pool_contrast.attn.k_proj_weight", "visual.attn_pool_contrast.attn.v_proj_weight",
    "visual.attn_pool_contrast.attn.in_proj_bias", "visual.attn_pool_contrast.attn.out_proj.weight",
    "visual.attn_pool_contrast.ln_q.weight", "visual.attn_pool_contrast.ln_k.bias", "visual.ln_contrast.weight",
    "visual.proj_contrast", "visual.attn_pool_caption.query", "visual.attn_pool_caption.attn.in_proj_weight",
    "visual.ln_caption.weight",
]


def test_conch_checkpoint(tmp_path):
    model_cfg = {"embed_dim": 16, "embed_dim_caption": 32,
                 "vision_cfg": {"image_size": 32, "patch_size": 8, "layers": 2, "width": 32, "num_heads": 2,
                                "attentional_pool_caption": True, "attentional_pool_contrast": True,
                                "attn_pooler_heads": 2, "n_queries_contrast": 1, "n_queries_caption": 4,
                                "output_tokens": True}}
    torch.manual_seed(3)
    source = ConchVisual(16, 32, model_cfg["vision_cfg"]).eval()
    state = {f"visual.{key}": tensor for key, tensor in source.state_dict().items()}
    assert set(CONCH_NAMES) <= set(state)
    state |= {"text.token_embedding.weight": torch.randn(64, 16), "logit_scale": torch.tensor(2.6)}
    torch.save(state, tmp_path / "pytorch_model.bin")
    encoder = load(tiny_entry("open_clip", "tiny-conch", local(tmp_path), dim=16, model_cfg=model_cfg,
                              weights_files=["pytorch_model.bin"]))
    batch = images(2, 32)
    with torch.inference_mode():
        assert_same(embed(encoder, "default", batch), F.normalize(source(batch), dim=-1))  # CONCH's encode_image()
        assert_same(embed(encoder, "pre_projection", batch), source.forward_no_head(batch))


def test_timm_checkpoint_as_uni(tmp_path):
    import timm

    model_kwargs = {"img_size": 224, "patch_size": 16, "init_values": 1e-5, "num_classes": 0, "dynamic_img_size": True}
    torch.manual_seed(4)
    source = timm.create_model("vit_tiny_patch16_224", **model_kwargs).eval()
    torch.save(source.state_dict(), tmp_path / "pytorch_model.bin")  # MahmoodLab/UNI ships pytorch_model.bin
    encoder = load(tiny_entry("timm", "vit_tiny_patch16_224", local(tmp_path), dim=192, model_kwargs=model_kwargs))
    batch = images(2, 224)
    with torch.inference_mode():
        assert_same(embed(encoder, "default", batch), source(batch))


TINY_CLIP_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
                    "image_size": 28, "patch_size": 14}
TINY_CLIP_PROCESSOR = {"type": "CLIPImageProcessor",
                       "config": {"size": 28, "crop_size": 28, "resample": 3,
                                  "image_mean": [0.48145466, 0.4578275, 0.40821073],
                                  "image_std": [0.26862954, 0.26130258, 0.27577711]}}


def _tiny_clip_model(projection_dim: int, seed: int) -> CLIPModel:
    torch.manual_seed(seed)
    text = CLIPTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                          vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    config = CLIPConfig(vision_config={**TINY_CLIP_VISION, "projection_dim": projection_dim},
                        text_config=text.to_dict(), projection_dim=projection_dim)
    return CLIPModel(config).eval()


def test_clip_vision_projection_checkpoint_as_llm2clip(tmp_path):
    clip = _tiny_clip_model(projection_dim=24, seed=5)
    clip.save_pretrained(tmp_path)  # CLIPModel names: vision_model.*, visual_projection.weight, text side
    encoder = load(tiny_entry("hf", "clip_vision_projection", local(tmp_path), dim=24,
                              vision_config={**TINY_CLIP_VISION, "projection_dim": 24},
                              image_processor=TINY_CLIP_PROCESSOR))
    batch = images(2, 28)
    with torch.inference_mode():
        assert_same(embed(encoder, "default", batch), clip.get_image_features(pixel_values=batch).pooler_output)
        assert_same(embed(encoder, "pre_projection", batch), clip.vision_model(pixel_values=batch).pooler_output)


# transformers' current Swin names -> the names CXR-CLIP's checkpoints were saved with (transformers 4.x)
SWIN_NAMES_AT_SAVE_TIME = {
    "attention.q_proj": "attention.self.query", "attention.k_proj": "attention.self.key",
    "attention.v_proj": "attention.self.value", "attention.o_proj": "attention.output.dense",
    "attention.relative_position_bias.relative_position_bias_table": "attention.self.relative_position_bias_table",
    "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense",
}


def _saved_swin_name(name: str) -> str:
    for current, saved in SWIN_NAMES_AT_SAVE_TIME.items():
        name = name.replace(current, saved)
    return name


def test_cxr_clip_checkpoint(tmp_path):
    torch.manual_seed(6)
    swin_config = {"image_size": 32, "patch_size": 4, "embed_dim": 8, "depths": [1, 2], "num_heads": [1, 2],
                   "window_size": 2}
    swin = SwinModel(SwinConfig(**swin_config)).eval()
    projection = nn.Linear(16, 12)
    image_side = {f"image_encoder.image_encoder.{_saved_swin_name(key)}": tensor
                  for key, tensor in swin.state_dict().items()}
    # 4.x saved the relative position index buffers too
    image_side["image_encoder.image_encoder.encoder.layers.0.blocks.0.attention.self.relative_position_index"] = (
        torch.zeros(16, dtype=torch.long))
    image_side |= {f"image_projection.projection.{key}": tensor for key, tensor in projection.state_dict().items()}
    text_side = {"text_encoder.text_encoder.embeddings.word_embeddings.weight": torch.randn(50, 8),
                 "text_projection.projection.weight": torch.randn(12, 8), "logit_scale": torch.tensor(2.6)}
    checkpoint = {"model": image_side | text_side, "config": {"model": {"name": "clip_custom"}, "base": {"seed": 1}},
                  "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]}, "epoch": 3}
    torch.save(checkpoint, tmp_path / "model-best.tar")
    encoder = load(tiny_entry("hf", "cxr_clip_swin", local(tmp_path / "model-best.tar"), dim=12,
                              swin_config=swin_config, projection_dim=12,
                              transform={"resize": 32, "center_crop": 32, "mean": [0.5] * 3, "std": [0.5] * 3}))
    batch = images(2, 32)
    with torch.inference_mode():
        token_zero = swin(pixel_values=batch).last_hidden_state[:, 0]
        assert_same(embed(encoder, "pre_projection", batch), token_zero)
        assert_same(embed(encoder, "default", batch), F.normalize(projection(token_zero), dim=-1))


def test_flair_checkpoint(tmp_path):
    torch.manual_seed(7)
    resnet = resnet50()
    resnet.fc = nn.Identity()
    resnet.eval()
    projection = torch.randn(16, 2048) * 0.02
    state = {f"vision_model.model.{key}": tensor for key, tensor in resnet.state_dict().items()}
    state |= {"vision_model.projection_head_vision.projection.weight": projection,
              "text_model.model.embeddings.word_embeddings.weight": torch.randn(50, 8),
              "logit_scale": torch.tensor(2.6)}
    save_file(state, str(tmp_path / "model.safetensors"))  # jusiro2/FLAIR (PyTorchModelHubMixin)
    encoder = load(tiny_entry("torchvision", "flair_resnet50", local(tmp_path), dim=16, projection_dim=16))
    batch = images(2, 64)
    with torch.inference_mode():
        features = resnet(batch)
        assert_same(embed(encoder, "pre_projection", batch), features)
        expected = F.normalize(F.normalize(features, dim=-1) @ projection.T, dim=-1)
        assert_same(embed(encoder, "default", batch), expected)


def test_torchvision_classifier_checkpoint(tmp_path):
    torch.manual_seed(8)
    source = resnet50().eval()
    torch.save(source.state_dict(), tmp_path / "resnet50.pth")
    encoder = load(tiny_entry("torchvision", "resnet50", local(tmp_path / "resnet50.pth"), dim=2048))
    source.fc = nn.Identity()
    batch = images(2, 64)
    with torch.inference_mode():
        assert_same(embed(encoder, "default", batch), source(batch))
