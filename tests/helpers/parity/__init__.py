"""Upstream parity: each catalog model served over gRPC against its upstream library's own feature function.

A parity case (registry.py) builds, for one catalog id, random weights saved in the release
checkpoint's file format and key layout, the catalog entry that serves them, and per spec the
upstream reference: the library's own constructor, preprocessing and feature function (or, for
models whose code lives only on GitHub, its stages rebuilt from library functions). run.py serves
every case of a family from one real encoder server and compares the vectors on the images of
images.py. Used by tests/parity/ and by bench/parity.py.

A family contributes cases from its own module, listed in CASE_MODULES (registry.py).
"""

from .images import IMAGES, decoded
from .registry import CASE_MODULES, CASES, BuiltCase, CaseContext, ParityCase, Reference, load_cases, parity_case
from .run import TOLERANCE, Row, failures, family_cases, run_cases

__all__ = ["CASES", "CASE_MODULES", "IMAGES", "TOLERANCE", "BuiltCase", "CaseContext", "ParityCase", "Reference",
           "Row", "decoded", "failures", "family_cases", "load_cases", "parity_case", "run_cases"]
