"""Hypothesis strategies for the decode fuzz run: DICOM headers with hostile values, and PNG, JPEG,
TIFF, BMP, WEBP and DICOM files with mutated bytes. Used by bench/decode_fuzz.py (10k+ inputs) and
by a short run in the default test suite.

An outcome is the item code the decode gives; `internal` is any exception that is not a
DecodeError, which the server would report as `internal`: the goal is none.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pydicom
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from PIL import Image
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from helpers.decode_corpus import E3, E, jpeg_of, stretched
from helpers.dicom import dicom_dataset, jpeg_dataset, palette_dataset, to_bytes
from helpers.images import encode, png_bytes, tiff_bytes
from medembed_decode import DecodeError, DecodeLimits, decode

# A lower pixel cap than the server's keeps hostile headers from allocating gigabytes here.
FUZZ_LIMITS = DecodeLimits(max_image_bytes=8 * 2**20, max_pixels=4_000_000, min_side=1)
TEXT_KEYWORDS = ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth", "VOILUTFunction",
                 "PhotometricInterpretation", "NumberOfFrames")
US_KEYWORDS = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
               "SamplesPerPixel", "PlanarConfiguration")
_VR = {"VOILUTFunction": "CS", "PhotometricInterpretation": "CS", "NumberOfFrames": "IS"}


def _seed_dicoms() -> list:
    window = dicom_dataset(stretched(E, 16, 7, np.uint16), bits_stored=12)
    window.RescaleSlope, window.RescaleIntercept = 1, -1024
    window.WindowCenter, window.WindowWidth = [1000, 1500], [800, 900]
    rng = np.random.default_rng(0)
    palette = palette_dataset(rng.integers(0, 256, E.shape, dtype=np.uint8),
                              *(rng.integers(0, 65536, (3, 256)).astype(np.uint16)))
    return [window, palette, dicom_dataset(E3, "RGB", bits_stored=8), jpeg_dataset(jpeg_of(E3), *E.shape)]


SEED_DICOMS = _seed_dicoms()
SEED_DICOM_FILES = [to_bytes(ds) for ds in SEED_DICOMS]
SEED_FILES = {
    "png": png_bytes(E3), "png16": png_bytes(stretched(E3, 16, 7, np.uint16)),
    "png16 gray+alpha": png_bytes(np.dstack([stretched(E, 257, 0, np.uint16)] * 2)),
    "jpeg": jpeg_of(E), "jpeg progressive": jpeg_of(E3, progressive=True),
    "tiff16 lzw": tiff_bytes(stretched(E3, 16, 7, np.uint16), photometric="rgb", compression="lzw"),
    "tiff float": tiff_bytes(stretched(E, 0.01, -1, np.float32)), "tiff8": encode(Image.fromarray(E3), "TIFF"),
    "bmp": encode(Image.fromarray(E3), "BMP"), "webp": encode(Image.fromarray(E3), "WEBP"),
    **{f"dicom {i}": to_bytes(ds) for i, ds in enumerate(SEED_DICOMS)},
}


def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.integers(-10**6, 10**6).map(str), st.floats(-1e4, 1e4).map(lambda f: f"{f:.3g}"))


_text_value = st.one_of(
    _number_text(), st.just(""), st.text("0123456789.-+eE\\ abcXYZ_", max_size=16),
    st.lists(_number_text(), min_size=2, max_size=3).map("\\".join),
    st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID", "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB",
                     "YBR_FULL", "YBR_FULL_422", "HSV", "CMYK"]),
).map(lambda text: text.encode("latin-1", "replace")[:64])
# Hypothesis draws favour simple values (first elements, zero); which tags and seeds to take should
# be uniform, so those choices come from a Random seeded by a drawn integer (reproducible per seed).
_uniform = st.integers(0, 2**32 - 1).map(random.Random)
_us_value = st.one_of(st.integers(0, 65535).map(lambda n: n.to_bytes(2, "little")), st.binary(max_size=5))


@st.composite
def dicom_header_cases(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed data set with some header values replaced by hostile raw bytes."""
    uniform = draw(_uniform)
    ds = pydicom.dcmread(io.BytesIO(uniform.choice(SEED_DICOM_FILES)))  # a fresh copy: never mutate a seed
    pool = TEXT_KEYWORDS + US_KEYWORDS if uniform.random() < 0.3 else TEXT_KEYWORDS
    for keyword in uniform.sample(pool, uniform.randint(1, 3)):
        tag = Tag(tag_for_keyword(keyword))
        value = draw(_us_value if keyword in US_KEYWORDS else _text_value)
        value = value + (b"\0" if keyword in US_KEYWORDS else b" ") if len(value) % 2 else value
        ds[tag] = RawDataElement(tag, "US" if keyword in US_KEYWORDS else _VR.get(keyword, "DS"), len(value),
                                 value, 0, False, True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the values we set on purpose
        try:
            data = to_bytes(ds)
        except (ValueError, OverflowError, TypeError):  # pydicom's writer refuses some of them
            assume(False)
    cut = uniform.choice(["whole", "whole", "whole", "no preamble", "bare", "truncated"])
    if cut == "no preamble":
        data = data[128:]
    elif cut == "bare":
        data = data[132:]
    elif cut == "truncated":
        data = data[:draw(st.integers(1, len(data) - 1))]
    return f"dicom header ({cut})", data


@st.composite
def mutated_file_cases(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file with a few byte-level mutations, most of them in the header."""
    name = draw(_uniform).choice(sorted(SEED_FILES))
    data = bytearray(SEED_FILES[name])
    magic = 132 if name.startswith("dicom") else 12  # kept, or the format is simply not recognised
    for _ in range(draw(st.integers(1, 6))):
        header = draw(st.booleans())
        limit = min(len(data), magic + 600) if header else len(data)
        if limit <= magic + 1:
            break
        position = draw(st.integers(magic, limit - 1))
        operation = draw(st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate", "extreme"]))
        if operation == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif operation == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[position:position + len(chunk)] = chunk
        elif operation == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del data[position:position + draw(st.integers(1, 64))]
        elif operation == "truncate":
            del data[max(position, 1):]
        else:  # a size or count field set to an extreme
            data[position:position + 2] = draw(st.sampled_from([b"\xff\xff", b"\x00\x00", b"\x7f\xff", b"\x80\x00"]))
    return f"mutated {name}", bytes(data)


@dataclass
class FuzzReport:
    outcomes: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    internal: list[str] = field(default_factory=list)
    slowest_s: float = 0.0
    distinct: set[bytes] = field(default_factory=set)
    """Digests of the inputs: hypothesis explores around earlier inputs, so some repeat."""

    @property
    def count(self) -> int:
        return sum(self.outcomes.values())


def outcome_of(data: bytes) -> tuple[str, str]:
    try:
        decode(data, FUZZ_LIMITS)
    except DecodeError as exc:
        return exc.kind.value, str(exc)
    except Exception as exc:  # what the server would report as `internal`
        return "internal", f"{type(exc).__name__}: {exc}"
    return "ok", ""


def run_fuzz(examples: int, *, seed: int = 0, time_budget_s: float = 600.0) -> FuzzReport:
    """`examples` inputs of each strategy (stops drawing new ones once the time budget is spent)."""
    report = FuzzReport()
    give_up = time.monotonic() + time_budget_s

    def check(case: tuple[str, bytes]) -> None:
        if time.monotonic() > give_up:
            return
        kind, data = case
        report.distinct.add(hashlib.sha1(data).digest())
        started = time.perf_counter()
        code, message = outcome_of(data)
        report.slowest_s = max(report.slowest_s, time.perf_counter() - started)
        report.outcomes[code] += 1
        report.by_kind[(kind.split(" (")[0], code)] += 1
        if code == "internal" and len(report.internal) < 20:
            report.internal.append(f"{kind}: {message}")

    for strategy in (dicom_header_cases(), mutated_file_cases()):
        run = settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                       suppress_health_check=list(HealthCheck))(given(strategy)(check))
        hypothesis_seed(seed)(run)()  # the same inputs every run of the same seed
    return report
