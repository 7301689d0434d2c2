"""open_clip family: family.py serves the entries; conch.py is CONCH's CoCa image tower, built by it.

Modules here import the library by its absolute name (`import open_clip`), which this package's
name never shadows.
"""
