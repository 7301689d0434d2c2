"""hf family: image encoders built from transformers models, one module per checkpoint format.

The family table (families/table.py) names the module of each `architecture`: `llava` -> llava.py
(LLaVA-1.5/1.6 and LLaVA-Med(++) towers with projector; llava_config.py, llava_anyres.py and
llava_s2.py are its parts), `clip_vision_projection` -> llm2clip.py (a CLIP tower with its visual
projection, e.g. LLM2CLIP), `cxr_clip_swin` -> cxr_clip.py (CXR-CLIP's Swin image encoder), `vision_backbone` ->
vision_backbone.py (a DINOv2, ViT or SigLIP vision model and the token pooling its authors probe).
checkpoint.py reads named tensors out of a Hugging Face checkpoint folder; processing.py builds a
model's own image processor. Architecture and processor configs are recorded in the catalog entry's
options, so every model builds offline; weights come from the hub or a local path.
"""
