"""Every kind of input the decode rules cover, generated in memory, each with the 8-bit pixels it
must decode to or the item code it must fail with.

Expected pixels are known by construction, never computed by a copy of the rules: a deep image is
an 8-bit image E stretched (E * k + c, with E spanning 0..255 over all channels), so min-max gives
E back exactly, and a per-channel rule would not (the channels of the colour image span different
ranges); a window is chosen so that it maps E + offset to E; palettes, VOI LUTs and EXIF
orientations are checked against tables or Pillow's own exif_transpose.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps
from pydicom.dataset import Dataset

from helpers.dicom import dicom_dataset, jpeg_dataset, palette_dataset, to_bytes, with_raw
from helpers.images import (
    encode,
    jpeg_with_claimed_size,
    png_bytes,
    png_with_claimed_size,
    tiff_bytes,
    with_orientation,
)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    expected: np.ndarray | None = None
    """uint8 [H, W] or [H, W, 3]: what the item must decode to."""
    code: str | None = None
    """Otherwise the item code it must fail with."""
    message: str = ""
    """A fragment the error message must contain."""


def base_gray(height: int = 40, width: int = 56) -> np.ndarray:
    """uint8 gradient + noise spanning 0..255, with several 0 and 255 pixels."""
    rng = np.random.default_rng(11)
    ramp = np.linspace(0, 255, width)[None, :] * np.linspace(0.3, 1, height)[:, None]
    pixels = np.clip(ramp + rng.normal(0, 12, (height, width)), 0, 255).astype(np.uint8)
    pixels[0, :4], pixels[-1, -4:] = 0, 255
    return pixels


def base_rgb(height: int = 40, width: int = 56) -> np.ndarray:
    """uint8 colour: R spans 0..255, G 40..200, B 10..120 (one range for the whole image: 0..255)."""
    gray = base_gray(height, width).astype(np.float64) / 255
    return np.stack([gray * 255, 40 + gray[::-1] * 160, 10 + gray[:, ::-1] * 110], axis=-1).round().astype(np.uint8)


E, E3 = base_gray(), base_rgb()
ALPHA = np.random.default_rng(5).integers(0, 256, E.shape).astype(np.uint16)
DEPTHS = {"8-bit": (1, 0, np.uint8), "12-bit": (16, 7, np.uint16), "16-bit": (257, 0, np.uint16)}


def stretched(pixels: np.ndarray, scale: float, offset: float, dtype: type) -> np.ndarray:
    return (pixels.astype(np.float64) * scale + offset).astype(dtype)


def deep_png() -> list[Case]:
    cases = []
    for depth, (scale, offset, dtype) in DEPTHS.items():
        alpha = (ALPHA * scale).astype(dtype)
        layouts = {"gray": (stretched(E, scale, offset, dtype), E),
                   "gray+alpha": (np.dstack([stretched(E, scale, offset, dtype), alpha]), E),
                   "RGB": (stretched(E3, scale, offset, dtype), E3),
                   "RGBA": (np.dstack([stretched(E3, scale, offset, dtype), alpha]), E3)}
        cases += [Case(f"png {depth} {layout}", png_bytes(samples), expected)
                  for layout, (samples, expected) in layouts.items()]
    return cases


def deep_tiff() -> list[Case]:
    gray12, rgb12 = stretched(E, 16, 7, np.uint16), stretched(E3, 16, 7, np.uint16)
    floats = stretched(E, 3.4 / 255, -0.4, np.float32)
    floats[0, 1], floats[0, 2], floats[-1, -2] = np.nan, -np.inf, np.inf
    float_expected = E.copy()
    float_expected[0, 1], float_expected[0, 2], float_expected[-1, -2] = 0, 0, 255
    return [
        Case("tiff 8-bit gray", tiff_bytes(E), E),
        Case("tiff 8-bit RGB", tiff_bytes(E3, photometric="rgb"), E3),
        Case("tiff 12-bit gray", tiff_bytes(gray12), E),
        Case("tiff 12-bit gray min-is-white", tiff_bytes(gray12, photometric="miniswhite"), 255 - E),
        Case("tiff 12-bit gray+alpha", tiff_bytes(np.dstack([gray12, ALPHA]), photometric="minisblack",
                                                    extrasamples=["unassalpha"]), E),
        Case("tiff 12-bit RGB", tiff_bytes(rgb12, photometric="rgb"), E3),
        Case("tiff 12-bit RGBA", tiff_bytes(np.dstack([rgb12, ALPHA]), photometric="rgb",
                                               extrasamples=["unassalpha"]), E3),
        Case("tiff 12-bit RGB planar", tiff_bytes(np.moveaxis(rgb12, -1, 0), photometric="rgb",
                                                     planarconfig="separate"), E3),
        Case("tiff 12-bit RGB LZW", tiff_bytes(rgb12, photometric="rgb", compression="lzw"), E3),
        Case("tiff 16-bit RGB deflate", tiff_bytes(stretched(E3, 257, 0, np.uint16), photometric="rgb",
                                                      compression="zlib", predictor=True), E3),
        Case("tiff int16 signed", tiff_bytes(stretched(E, 16, -2000, np.int16)), E),
        Case("tiff uint32", tiff_bytes(stretched(E, 1000, 5, np.uint32)), E),
        Case("tiff float16", tiff_bytes(stretched(E, 1 / 64, -1, np.float16)), E),
        Case("tiff float64", tiff_bytes(stretched(E, 7 / 255, -3, np.float64)), E),
        Case("tiff float32 NaN and inf", tiff_bytes(floats), float_expected),
        Case("tiff float32 all NaN", tiff_bytes(np.full(E.shape, np.nan, np.float32)), code="decode_error",
             message="no finite pixel"),
        Case("tiff two pages", tiff_bytes(np.stack([gray12, gray12[::-1]]), photometric="minisblack"), E),
    ]


WINDOW_STORED = (E.astype(np.uint16) + 2024)  # with intercept -1024: modality values E + 1000


def windowed(stored: np.ndarray = WINDOW_STORED, **values: bytes) -> bytes:
    ds = dicom_dataset(stored, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    return to_bytes(with_raw(ds, **values))


def sigmoid(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.3.1, output range 0..255."""
    return np.round(255 / (1 + np.exp(-4 * (x - center) / width))).astype(np.uint8)


def dicom_monochrome() -> list[Case]:
    stored12 = stretched(E, 16, 7, np.uint16)
    rescaled = dicom_dataset(stored12, bits_stored=12)
    rescaled.RescaleSlope, rescaled.RescaleIntercept = 2, -1024
    full = to_bytes(rescaled)
    inverted = dicom_dataset(stored12, "MONOCHROME1", bits_stored=12)
    frames = dicom_dataset(np.stack([stored12, stored12[::-1]]), bits_stored=12, frames=2)
    return [
        Case("dicom 12-bit", to_bytes(dicom_dataset(stored12, bits_stored=12)), E),
        Case("dicom 12-bit rescaled", full, E),
        Case("dicom MONOCHROME1", to_bytes(inverted), 255 - E),
        Case("dicom 12-bit signed", to_bytes(dicom_dataset(stretched(E, 16, -2048, np.int16), bits_stored=12,
                                                           signed=True)), E),
        Case("dicom 8-bit", to_bytes(dicom_dataset(E, bits_stored=8)), E),
        Case("dicom multi-frame: first frame", to_bytes(frames), E),
        Case("dicom without preamble", full[128:], E),
        Case("dicom bare data set (no preamble, no DICM)", full[132:], E),
    ]


def dicom_windows() -> list[Case]:
    sub = (62 + E.astype(np.uint16) * 116 // 255).astype(np.uint8)
    values = E.astype(np.float64) + 1000
    voi = dicom_dataset(WINDOW_STORED, bits_stored=12)
    voi.RescaleSlope, voi.RescaleIntercept = 1, -1024
    item = Dataset()
    item.add_new(0x00283002, "US", [256, 1000, 16])  # LUT Descriptor: entries, first value mapped, bits
    item.add_new(0x00283006, "US", [int(v) for v in (255 - np.arange(256)) * 257])  # LUT Data
    voi.VOILUTSequence = [item]
    invalid = {"width 0": {"WindowCenter": b"1128", "WindowWidth": b"0"},
               "width -5": {"WindowCenter": b"1128", "WindowWidth": b"-5"},
               "width 0.5 (LINEAR needs >= 1)": {"WindowCenter": b"1128", "WindowWidth": b"0.5"},
               "width non-numeric": {"WindowCenter": b"1128", "WindowWidth": b"abc"},
               "center non-numeric": {"WindowCenter": b"W1", "WindowWidth": b"256"},
               "width empty": {"WindowCenter": b"1128", "WindowWidth": b""},
               "width missing": {"WindowCenter": b"1128"},
               "width NaN": {"WindowCenter": b"1128", "WindowWidth": b"nan"},
               "unknown function": {"WindowCenter": b"1128", "WindowWidth": b"256", "VOILUTFunction": b"CUBIC"}}
    return [
        Case("window maps to 0..255", windowed(WindowCenter=b"1128", WindowWidth=b"256"), E),
        Case("window not stretched again", windowed(sub.astype(np.uint16) + 2024, WindowCenter=b"1128",
                                                     WindowWidth=b"256"), sub),
        Case("another window", windowed(WindowCenter=b"1100", WindowWidth=b"256"),
             np.clip(E.astype(np.int16) + 28, 0, 255).astype(np.uint8)),
        Case("several windows: the first", windowed(WindowCenter=b"1128\\1100", WindowWidth=b"256\\300"), E),
        Case("window LINEAR_EXACT", windowed(WindowCenter=b"1127.5", WindowWidth=b"255",
                                             VOILUTFunction=b"LINEAR_EXACT"), E),
        Case("window SIGMOID", windowed(WindowCenter=b"1128", WindowWidth=b"256", VOILUTFunction=b"SIGMOID"),
             sigmoid(values, 1128, 256)),
        Case("VOI LUT sequence", to_bytes(voi), 255 - E),
        *(Case(f"invalid window ignored: {name}", windowed(**raw), E) for name, raw in invalid.items()),
        Case("rescale slope non-numeric", windowed(RescaleSlope=b"x1"), code="decode_error",
             message="(0028,1053) Rescale Slope"),
        Case("rescale slope 0", windowed(RescaleSlope=b"0"), code="decode_error", message="Rescale Slope"),
        Case("rescale intercept infinite", windowed(RescaleIntercept=b"1e999"), code="decode_error",
             message="(0028,1052) Rescale Intercept"),
    ]


def jpeg_of(pixels: np.ndarray, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def pillow_pixels(data: bytes) -> np.ndarray:
    """What Pillow itself decodes (the upstream decoder), EXIF orientation applied by its own function."""
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        return np.asarray(upright.convert("L" if upright.mode in ("L", "LA") else "RGB"))


def dicom_colour() -> list[Case]:
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 256, E.shape, dtype=np.uint8)
    tables = rng.integers(0, 256, (3, 256), dtype=np.uint8)
    jpeg = jpeg_of(E3)
    jpeg_dicom = to_bytes(jpeg_dataset(jpeg, *E.shape))
    return [
        Case("dicom PALETTE COLOR", to_bytes(palette_dataset(indices, *(tables.astype(np.uint16) * 257))),
             np.stack([tables[0][indices], tables[1][indices], tables[2][indices]], axis=-1)),
        Case("dicom RGB 8-bit", to_bytes(dicom_dataset(E3, "RGB", bits_stored=8)), E3),
        Case("dicom RGB 12-bit", to_bytes(dicom_dataset(stretched(E3, 16, 7, np.uint16), "RGB", bits_stored=12)), E3),
        Case("dicom JPEG baseline", jpeg_dicom, pillow_pixels(jpeg)),
        *(Case(f"dicom JPEG pixel data cut at {cut:.0%}", jpeg_dicom[:int(len(jpeg_dicom) * cut)],
               code="decode_error") for cut in (0.4, 0.8, 0.97)),
        Case("dicom native pixel data cut short", windowed()[:-100], code="decode_error"),
        Case("dicom header cut short", windowed()[:300], code="decode_error"),
    ]


def jpeg_cases() -> list[Case]:
    gray, colour = jpeg_of(base_gray(96, 128)), jpeg_of(base_rgb(96, 128), progressive=True)
    claims = [(256, 96), (128, 192), (1000, 1000), (8000, 8000)]
    return [
        Case("jpeg gray", gray, pillow_pixels(gray)),
        Case("jpeg colour progressive", colour, pillow_pixels(colour)),
        *(Case(f"jpeg gray claiming {w}x{h}", jpeg_with_claimed_size(gray, w, h), code="decode_error",
               message="JPEG") for w, h in claims),
        *(Case(f"jpeg colour claiming {w}x{h}", jpeg_with_claimed_size(colour, w, h), code="decode_error")
          for w, h in claims[:3]),
        *(Case(f"jpeg cut at {cut:.0%}", gray[:int(len(gray) * cut)], code="decode_error") for cut in (0.3, 0.7)),
        Case("jpeg without its end marker", gray[:-2], code="decode_error"),
    ]


def orientation_cases() -> list[Case]:
    image = Image.fromarray(E3)
    cases = []
    for fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        for orientation in range(1, 9):
            data = with_orientation(image, fmt, orientation)
            cases.append(Case(f"{fmt.lower()} EXIF orientation {orientation}", data, pillow_pixels(data)))
    return cases


def limit_cases() -> list[Case]:
    strip = np.tile(np.arange(400, dtype=np.uint16) % 256, (8, 1)).astype(np.uint8)
    return [
        Case("aspect ratio 50 (the cap)", png_bytes(strip), strip),
        Case("aspect ratio 50.1", png_bytes(np.zeros((8, 401), np.uint8)), code="too_large",
             message="max_aspect_ratio = 50"),
        Case("8x80000 strip", png_bytes(np.zeros((8, 80000), np.uint8)), code="too_large",
             message="aspect ratio of 10000:1"),
        Case("decompression bomb header", png_with_claimed_size(30000, 30000), code="too_large",
             message="max_pixels = 80000000"),
        Case("4x40 image", png_bytes(np.zeros((40, 4), np.uint8)), code="too_small", message="min_side = 8"),
        Case("GIF", encode(Image.fromarray(E), "GIF"), code="unsupported_format", message="GIF"),
        Case("text", b"patient,label\n1,benign\n", code="unsupported_format"),
        Case("empty", b"", code="decode_error"),
        Case("png cut short", png_bytes(E)[:-60], code="decode_error"),
        Case("16-bit png cut short", png_bytes(stretched(E3, 257, 0, np.uint16))[:-60], code="decode_error"),
    ]


def corpus() -> list[Case]:
    return [*deep_png(), *deep_tiff(), *dicom_monochrome(), *dicom_windows(), *dicom_colour(), *jpeg_cases(),
            *orientation_cases(), *limit_cases()]


CORPUS = corpus()
