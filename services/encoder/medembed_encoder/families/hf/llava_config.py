"""A LLaVA checkpoint's config.json, read the way its upstream code reads it: typed catalog options and
the image-side architecture they describe.

Three upstream codes build LLaVA image tokens, each from its own config.json schema:

- `llava_med` (microsoft/LLaVA-Med, LlavaMistralForCausalLM) and `medtrinity` (UCSC-VLAA/MedTrinity-25M,
  LlavaLlamaForCausalLM, LLaVA-Med++ / LLaVA-Tri): LLaVA's own schema, the language model's config
  plus `mm_*` fields (llava/model/multimodal_encoder/builder.py `build_vision_tower`,
  multimodal_projector/builder.py `build_vision_projector`, mm_utils.py `process_images`);
  MedTrinity adds `s2`, `s2_scales` (clip_encoder.py `CLIPVisionTowerS2`) and
  `unfreeze_mm_vision_tower` (the tower then comes from the checkpoint, not the CLIP repo).
- `llava_next_hf` (transformers `LlavaNextConfig` / `LlavaNextModel`, the llava-hf repos).

Every top-level field is either read here, or listed as known not to change the image tokens
(language-model, tokenizer and training fields). Anything else stops the model at start, naming the
field: a field we do not understand might change the vectors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

from pydantic import model_validator
from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, MistralConfig, PretrainedConfig
from transformers.activations import ACT2FN

from ...catalog import WeightsSource
from ...load_errors import ModelLoadError
from ..options import CatalogOptions, OptionsError

UPSTREAMS = ("llava_med", "medtrinity", "llava_next_hf")
# Bookkeeping and generation defaults every config.json may carry (transformers 4.x wrote all of them
# into nested configs, e.g. the CLIP repos' vision_config); none of them shapes an image token.
GENERIC_FIELDS = frozenset(PretrainedConfig().to_dict()) | frozenset({
    "torch_dtype", "use_bfloat16", "torchscript", "tf_legacy_loss", "pruned_heads", "is_decoder",
    "cross_attention_hidden_size", "add_cross_attention", "tie_encoder_decoder", "max_length", "min_length",
    "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k",
    "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
    "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
    "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens", "finetuning_task",
    "tokenizer_class", "prefix", "bos_token_id", "pad_token_id", "eos_token_id", "sep_token_id",
    "decoder_start_token_id", "task_specific_params", "gradient_checkpointing", "tie_word_embeddings"})
# Fields older transformers versions wrote into the language model's config (renamed or dropped since).
LEGACY_LM_FIELDS = frozenset({"rope_theta", "rope_scaling", "pretraining_tp", "attention_bias", "mlp_bias"})
LANGUAGE_MODELS = {"llava_mistral": MistralConfig, "llava_llama": LlamaConfig}
MODEL_TYPES = {"llava_med": ("llava_mistral",), "medtrinity": ("llava_llama", "llava_mistral"),
               "llava_next_hf": ("llava_next",)}

LLAVA_READ = frozenset({"model_type", "mm_vision_tower", "mm_hidden_size", "mm_projector_type",
                        "mm_vision_select_layer", "mm_vision_select_feature", "image_aspect_ratio", "hidden_size"})
MEDTRINITY_READ = LLAVA_READ | {"s2", "s2_scales", "unfreeze_mm_vision_tower"}
# LLaVA fields that shape prompts, tokenizers or training, never the image tokens; image_grid_pinpoints
# and mm_patch_merge_type act only on anyres inputs (5-D), which image_aspect_ratio pad/square never makes.
LLAVA_NOT_IMAGE = frozenset({
    "mm_use_im_start_end", "mm_use_im_patch_token", "tune_mm_mlp_adapter", "freeze_mm_mlp_adapter",
    "tune_mm_vision_resampler", "mm_projector_lr", "mm_vision_tower_lr", "tokenizer_model_max_length",
    "tokenizer_padding_side", "use_mm_proj", "mm_patch_merge_type", "image_grid_pinpoints",
})
# LLaVA-Med's llava_arch.py records these for its segmentation-token experiments; no inference code reads them,
# and its CLIPVisionTower never reads unfreeze_mm_vision_tower (the tower always comes from the CLIP repo).
LLAVA_MED_NOT_IMAGE = LLAVA_NOT_IMAGE | {"feature_outs", "img_size", "vision_backbone", "segtok_posembed",
                                         "unfreeze_mm_vision_tower", "mm_resampler_type"}
NEXT_READ = frozenset({"model_type", "vision_config", "text_config", "vision_feature_layer",
                       "vision_feature_select_strategy", "image_grid_pinpoints", "projector_hidden_act",
                       "multimodal_projector_bias"})
# LlavaNextModel always appends its image_newline (use_image_newline_parameter is not read); the rest is text side.
NEXT_NOT_IMAGE = frozenset({"image_token_index", "image_token_id", "ignore_index", "image_seq_length",
                            "tie_word_embeddings", "vocab_size", "pad_token_id", "use_image_newline_parameter"})
TOWER_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_channels",
                "image_size", "patch_size", "hidden_act", "layer_norm_eps")
# CLIPVisionConfig keys the llava-hf repos carry in vision_config that CLIPVisionModel does not read.
TOWER_NOT_READ = frozenset({"vocab_size", "dropout"})


class LlavaOptions(CatalogOptions):
    """The catalog options of a `llava` entry.

    `upstream`: which code's reading of config.json to follow (UPSTREAMS). `config`: the checkpoint's
    config.json as recorded for offline builds (the loader reads the checkpoint's own when it has the
    weights, and refuses a record that disagrees). `image_processor`: {type, config} of the
    preprocessor_config.json the upstream reads (LLaVA's own code: the CLIP tower repo's; llava-hf:
    the checkpoint's). `vision_config`: the CLIP tower repo's vision config (LLaVA's own schema names
    only the repo, `mm_vision_tower`). `vision_tower_weights`: where that repo is ({kind, ref,
    revision}: pins a revision or points at a local copy; default: `mm_vision_tower` as written).
    """

    schema_name: ClassVar[str] = "hf/llava"
    upstream: str
    config: dict[str, Any]
    image_processor: dict[str, Any]
    vision_config: dict[str, Any] | None = None
    vision_tower_weights: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fits_its_upstream(self) -> Self:
        """What a llava entry needs beyond the types (OptionsError, its message starting with the field)."""
        if self.upstream not in UPSTREAMS:
            raise OptionsError(f"upstream {self.upstream!r} is not one of {UPSTREAMS}")
        if "type" not in self.image_processor:
            raise OptionsError("image_processor must be {type, config}")
        if self.upstream != "llava_next_hf" and not self.vision_config:
            raise OptionsError(f"vision_config is required by upstream {self.upstream} (the CLIP tower repo's "
                               "vision config)")
        if self.vision_tower_weights is not None:
            try:
                WeightsSource(**self.vision_tower_weights)
            except TypeError as exc:
                raise OptionsError(f"vision_tower_weights must be {{kind, ref, revision}}: {exc}") from None
        return self

    @classmethod
    def from_options(cls, options: Mapping[str, Any], model_id: str) -> LlavaOptions:
        """The options of model `model_id`, validated (OptionsError names the model and the key)."""
        return cls.from_mapping(dict(options), f"model {model_id!r}: options")

    @property
    def tower_weights(self) -> WeightsSource | None:
        """Where the CLIP tower repo is, when the catalog pins it; None: `mm_vision_tower` as written."""
        return WeightsSource(**self.vision_tower_weights) if self.vision_tower_weights else None


@dataclass(frozen=True)
class LlavaArchitecture:
    """What shapes the image tokens, normalized from config.json; two equal ones give the same vectors."""

    upstream: str
    tower: tuple[tuple[str, Any], ...]  # the CLIP tower's TOWER_FIELDS
    feature_layer: int  # hidden_states index (mm_vision_select_layer / vision_feature_layer)
    patch_only: bool  # drop the CLS token (select_feature patch / strategy default)
    projector: str  # linear | mlp<N>x_gelu | identity (LLaVA) | llava_next (LlavaNextMultiModalProjector)
    projector_in: int  # mm_hidden_size
    text_width: int  # the language model's hidden_size: the projector's output
    projector_act: str = "gelu"
    projector_bias: bool = True
    pad_to_square: bool = False  # image_aspect_ratio pad: expand2square before the processor
    s2_scales: tuple[int, ...] = ()  # S2 image sizes, sorted; () = one scale
    grid_pinpoints: tuple[tuple[int, int], ...] = ()  # anyres tiles (height, width); () = one view
    tower_in_checkpoint: bool = False  # the tower's tensors come from the checkpoint, not the CLIP repo
    tower_repo: str = field(default="", compare=False)  # mm_vision_tower as config.json writes it
    tower_config: CLIPVisionConfig | None = field(default=None, compare=False, repr=False)

    def differences(self, other: LlavaArchitecture) -> list[str]:
        """'field: ours vs theirs' for every compared field that differs; empty when both give the same tokens."""
        return [f"{f.name}: {getattr(self, f.name)!r} vs {getattr(other, f.name)!r}" for f in fields(self)
                if f.compare and getattr(self, f.name) != getattr(other, f.name)]


class ConfigReader:
    """Reads one config.json's fields, remembering which it read; errors name the model and the origin."""

    def __init__(self, config: Mapping[str, Any], model_id: str, origin: str) -> None:
        self.config, self.model_id, self.origin = config, model_id, origin

    def fail(self, message: str) -> ModelLoadError:
        """A ModelLoadError naming the model, the config's origin and `message` (to raise)."""
        return ModelLoadError(f"model {self.model_id!r}: {self.origin}: {message}")

    def get(self, key: str, default: Any = None, kind: type | tuple[type, ...] | None = None) -> Any:
        """Field `key` (else `default`), remembered as read; ModelLoadError when it is not of `kind`."""
        value = self.config.get(key, default)
        if kind is not None and not isinstance(value, kind):
            raise self.fail(f"field {key!r} = {value!r} is not {kind}")
        return value

    def require(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """Field `key`, which must be present and of `kind` (ModelLoadError otherwise)."""
        if key not in self.config:
            raise self.fail(f"field {key!r} is missing")
        return self.get(key, kind=kind)

    def check_fields(self, read: frozenset[str], ignored: frozenset[str], where: str = "") -> None:
        """ModelLoadError naming every field neither `read`, `ignored` nor generic bookkeeping."""
        unknown = sorted(set(self.config) - read - ignored - GENERIC_FIELDS)
        if unknown:
            raise self.fail(f"field(s) {unknown}{where} not understood by medembed's LLaVA loader; it reads "
                            f"{sorted(read)} and knows the others to leave the image tokens unchanged")


def tower_fields(config: CLIPVisionConfig) -> tuple[tuple[str, Any], ...]:
    """(name, value) of the CLIP tower config's TOWER_FIELDS: the fields that shape its tokens."""
    return tuple((name, getattr(config, name)) for name in TOWER_FIELDS)


def clip_vision_config(raw: Mapping[str, Any], reader: ConfigReader) -> CLIPVisionConfig:
    """A CLIP vision config from a CLIPConfig (`vision_config` inside) or a CLIPVisionConfig mapping."""
    if raw.get("model_type") == "clip":
        raw = raw.get("vision_config") or {}
    inner = ConfigReader(raw, reader.model_id, reader.origin)
    if raw.get("model_type", "clip_vision_model") != "clip_vision_model":
        raise inner.fail(f"the vision tower is {raw.get('model_type')!r}; the LLaVA loader builds CLIP towers only")
    inner.check_fields(frozenset(CLIPVisionConfig().to_dict()), TOWER_NOT_READ, where=" in vision_config")
    return CLIPVisionConfig(**{key: value for key, value in raw.items() if key not in GENERIC_FIELDS | TOWER_NOT_READ})


def _s2_scales(reader: ConfigReader, tower: CLIPVisionConfig) -> tuple[int, ...]:
    """CLIPVisionTowerS2: s2_scales is a comma-separated string, sorted; the smallest is the split size."""
    text = reader.get("s2_scales", "336,672,1008", kind=str)
    try:
        scales = tuple(sorted(int(part) for part in text.split(",")))
    except ValueError:
        raise reader.fail(f"field 's2_scales' = {text!r} is not comma-separated integers") from None
    for scale in scales:
        splits = math.ceil(scale / scales[0])
        if scale % splits or scale // splits != tower.image_size:
            raise reader.fail(f"s2_scales {text!r}: scale {scale} does not split into {splits}x{splits} tiles of "
                              f"the tower's image_size {tower.image_size}")
    return scales


def _llava_projector(reader: ConfigReader) -> str:
    kind = reader.get("mm_projector_type", "linear", kind=str)
    if kind in ("linear", "identity") or re.fullmatch(r"mlp(\d+)x_gelu", kind):
        return kind
    raise reader.fail(f"mm_projector_type {kind!r} is not linear, mlp<N>x_gelu or identity (build_vision_projector)")


def read_llava_config(config: Mapping[str, Any], upstream: str, tower: CLIPVisionConfig, model_id: str,
                      origin: str) -> LlavaArchitecture:
    """LLaVA's own schema (llava_med, medtrinity), with the tower repo's CLIP vision config."""
    reader = ConfigReader(config, model_id, origin)
    model_type = reader.require("model_type", str)
    if model_type not in MODEL_TYPES[upstream]:
        raise reader.fail(f"model_type {model_type!r} is not one {upstream} builds: {MODEL_TYPES[upstream]}")
    language_fields = frozenset(LANGUAGE_MODELS[model_type]().to_dict()) | LEGACY_LM_FIELDS
    medtrinity = upstream == "medtrinity"
    read, ignored = (MEDTRINITY_READ, LLAVA_NOT_IMAGE) if medtrinity else (LLAVA_READ, LLAVA_MED_NOT_IMAGE)
    reader.check_fields(read, ignored | language_fields)
    if reader.get("mm_resampler_type") is not None:
        raise reader.fail(f"mm_resampler_type {reader.get('mm_resampler_type')!r}: LLaVA-Med has no resampler code")
    select = reader.get("mm_vision_select_feature", "patch", kind=str)
    if select not in ("patch", "cls_patch"):
        raise reader.fail(f"mm_vision_select_feature {select!r} is not patch or cls_patch "
                          "(CLIPVisionTower.feature_select)")
    aspect = reader.get("image_aspect_ratio")
    if aspect not in (None, "pad", "square"):
        raise reader.fail(f"image_aspect_ratio {aspect!r}: the loader handles pad and square (process_images)")
    s2 = upstream == "medtrinity" and reader.get("s2", False, kind=bool)
    scales = _s2_scales(reader, tower) if s2 else ()
    if s2 and select != "patch":
        raise reader.fail("s2 with mm_vision_select_feature cls_patch: s2wrapper needs a square token grid")
    hidden = reader.require("mm_hidden_size", int)
    if hidden != tower.hidden_size * max(1, len(scales)):
        raise reader.fail(f"mm_hidden_size {hidden} is not the tower width {tower.hidden_size} x "
                          f"{max(1, len(scales))} scale(s)")
    return LlavaArchitecture(
        upstream=upstream, tower=tower_fields(tower), feature_layer=reader.require("mm_vision_select_layer", int),
        patch_only=select == "patch", projector=_llava_projector(reader), projector_in=hidden,
        text_width=reader.get("hidden_size", LANGUAGE_MODELS[model_type]().hidden_size, kind=int),
        pad_to_square=aspect == "pad", s2_scales=scales,
        tower_in_checkpoint=upstream == "medtrinity" and reader.get("unfreeze_mm_vision_tower", False, kind=bool),
        tower_repo=reader.require("mm_vision_tower", str), tower_config=tower)


def read_llava_next_config(config: Mapping[str, Any], model_id: str, origin: str) -> LlavaArchitecture:
    """transformers' LlavaNextConfig schema (llava-hf repos), parsed by LlavaNextConfig itself: nested
    configs are saved as differences from defaults (the Mistral text_config has no hidden_size)."""
    reader = ConfigReader(config, model_id, origin)
    if reader.require("model_type", str) != "llava_next":
        raise reader.fail(f"model_type {config['model_type']!r} is not llava_next")
    reader.check_fields(NEXT_READ, NEXT_NOT_IMAGE)
    vision = reader.require("vision_config", Mapping)
    clip_vision_config(vision, reader)  # the tower's fields are checked like a CLIP repo's
    if not isinstance(reader.get("vision_feature_layer", -2), int):
        raise reader.fail(f"vision_feature_layer {config['vision_feature_layer']!r}: only one layer (an int) "
                          "is supported")
    try:
        parsed = LlavaNextConfig.from_dict(dict(config))
    except (ValueError, TypeError, KeyError) as exc:
        raise reader.fail(f"LlavaNextConfig cannot read it: {exc}") from None
    if parsed.vision_feature_select_strategy not in ("default", "full"):
        raise reader.fail(f"vision_feature_select_strategy {parsed.vision_feature_select_strategy!r} is not default "
                          "or full")
    if parsed.projector_hidden_act not in ACT2FN:
        raise reader.fail(f"projector_hidden_act {parsed.projector_hidden_act!r} is not a transformers activation")
    tower = CLIPVisionConfig(**parsed.vision_config.to_dict())
    return LlavaArchitecture(
        upstream="llava_next_hf", tower=tower_fields(tower), feature_layer=parsed.vision_feature_layer,
        patch_only=parsed.vision_feature_select_strategy == "default", projector="llava_next",
        projector_in=tower.hidden_size, text_width=parsed.text_config.hidden_size,
        projector_act=parsed.projector_hidden_act, projector_bias=parsed.multimodal_projector_bias,
        grid_pinpoints=tuple((int(h), int(w)) for h, w in parsed.image_grid_pinpoints), tower_in_checkpoint=True,
        tower_config=tower)


def read_architecture(options: LlavaOptions, config: Mapping[str, Any], tower_config: Mapping[str, Any] | None,
                      model_id: str, origin: str) -> LlavaArchitecture:
    """`config` is a config.json; `tower_config` the CLIP repo's (LLaVA's own schema only)."""
    if options.upstream == "llava_next_hf":
        return read_llava_next_config(config, model_id, origin)
    reader = ConfigReader(tower_config or {}, model_id, f"{origin} (vision tower config)")
    return read_llava_config(config, options.upstream, clip_vision_config(tower_config or {}, reader), model_id, origin)


def recorded_architecture(options: LlavaOptions, model_id: str) -> LlavaArchitecture:
    """The architecture the catalog records: what builds offline, and what a checkpoint must match."""
    return read_architecture(options, options.config, options.vision_config, model_id, "catalog options.config")
