"""The JPEG family beyond 8-bit baseline, read by imagecodecs (libjpeg-turbo 3, CharLS, OpenJPEG).

- frame_header(): what a JPEG or JPEG-LS start-of-frame segment says (process, precision, size),
  read before any pixel is decoded.
- decode_plain(): a plain JPEG file of 12 bits, a lossless JPEG (ITU-T T.81 process 14) or a
  JPEG-LS file (ITU-T T.87), which libjpeg-turbo's 8-bit API in simplejpeg does not read.
- A pydicom pixel-data decoder plugin (the interface of pydicom.pixels.decoders, as its own
  pylibjpeg plugin) for JPEG Extended 12-bit, JPEG Lossless, JPEG-LS and JPEG 2000, registered by
  register() after pydicom's own plugins: pydicom tries a later plugin when an earlier one fails
  (Pillow refuses 12-bit JPEG and some JPEG 2000 code streams that OpenJPEG reads).
"""

from __future__ import annotations

from dataclasses import dataclass

import imagecodecs
import numpy as np
from pydicom import uid
from pydicom.pixels import get_decoder
from pydicom.pixels.common import PhotometricInterpretation
from pydicom.pixels.decoders.base import DecodeRunner

# Start-of-frame markers (ITU-T T.81 B.1.1.3): SOF0-SOF15 but DHT (C4), JPG (C8) and DAC (CC);
# SOF3, SOF7, SOF11 and SOF15 are the lossless processes. SOF55 (F7) is JPEG-LS (ITU-T T.87 C.2.2).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_LOSSLESS = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
_SOF_JPEG_LS = 0xF7
_START_OF_SCAN = 0xDA

_JPEG_SYNTAXES = (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless, uid.JPEGLosslessSV1)
_JPEG_LS_SYNTAXES = (uid.JPEGLSLossless, uid.JPEGLSNearLossless)
_JPEG_2000_SYNTAXES = (uid.JPEG2000Lossless, uid.JPEG2000, uid.HTJ2KLossless, uid.HTJ2KLosslessRPCL, uid.HTJ2K)
_CODECS = {**{syntax: "JPEG8" for syntax in _JPEG_SYNTAXES}, **{syntax: "JPEGLS" for syntax in _JPEG_LS_SYNTAXES},
           **{syntax: "JPEG2K" for syntax in _JPEG_2000_SYNTAXES}}
PLUGIN = "imagecodecs"
DECODER_DEPENDENCIES = {syntax: (f"imagecodecs with its {codec} codec",) for syntax, codec in _CODECS.items()}


@dataclass(frozen=True)
class FrameHeader:
    """A JPEG / JPEG-LS start-of-frame segment: marker (0xC0-0xCF or 0xF7), sample precision in
    bits, height and width in pixels, components per pixel."""

    marker: int
    precision: int
    height: int
    width: int
    components: int

    @property
    def needs_imagecodecs(self) -> bool:
        """True for what simplejpeg (8-bit lossy libjpeg-turbo) cannot read: more than 8 bits, a
        lossless process, JPEG-LS."""
        return self.precision > 8 or self.marker in _LOSSLESS or self.marker == _SOF_JPEG_LS

    @property
    def kind(self) -> str:
        """What the data is, for messages: "12-bit JPEG", "JPEG Lossless", "JPEG-LS" ..."""
        if self.marker == _SOF_JPEG_LS:
            return "JPEG-LS"
        return "JPEG Lossless" if self.marker in _LOSSLESS else f"{self.precision}-bit JPEG"


def frame_header(data: bytes) -> FrameHeader | None:
    """The first start-of-frame segment of JPEG or JPEG-LS data (SOI first, or a bare segment
    list); None when none stands before the first scan or the markers are malformed."""
    position = 2 if data[:2] == b"\xff\xd8" else 0
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == _START_OF_SCAN:
            return None
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if (marker in _SOF_MARKERS or marker == _SOF_JPEG_LS) and position + 10 <= len(data):
            segment = data[position + 4:position + 10]
            return FrameHeader(marker, segment[0], int.from_bytes(segment[1:3], "big"),
                               int.from_bytes(segment[3:5], "big"), segment[5])
        position += 2 + length
    return None


def check_complete(data: bytes) -> None:
    """Raise ValueError when JPEG or JPEG-LS data has no end-of-image marker after its first scan:
    libjpeg-turbo only warns about data that ends early, and fills the missing lines. (Neither
    format's entropy-coded data can hold FF D9: a coded FF is followed by 00, or < 80 in JPEG-LS.)"""
    scan = data.find(b"\xff\xda")
    if scan < 0 or data.find(b"\xff\xd9", scan) < 0:
        raise ValueError("the data ends before its end-of-image marker: truncated")


def decode_plain(data: bytes, header: FrameHeader) -> np.ndarray:
    """Samples of a plain JPEG-LS, lossless or >8-bit JPEG file at their stored depth: [H, W] or
    [H, W, components] (uint8 or uint16). Raises ValueError for truncated data, and what
    imagecodecs raises for damaged data."""
    check_complete(data)
    if header.marker == _SOF_JPEG_LS:
        return np.asarray(imagecodecs.jpegls_decode(data))
    return np.asarray(imagecodecs.jpeg8_decode(data))


def codec_missing(header: FrameHeader) -> str:
    """"" when imagecodecs here can decode what `header` describes, else what is missing."""
    codec = "JPEGLS" if header.marker == _SOF_JPEG_LS else "JPEG8"
    return "" if getattr(imagecodecs, codec).available else f"imagecodecs built with its {codec} codec"


def is_available(syntax: str) -> bool:
    """pydicom plugin interface: True when imagecodecs has the codec for `syntax`."""
    codec = _CODECS.get(uid.UID(syntax))
    return codec is not None and bool(getattr(imagecodecs, codec).available)


def decode_frame(src: bytes, runner: DecodeRunner) -> bytes:
    """pydicom plugin interface: one encoded frame to its samples as bytes, the runner told the
    container size and the colour space of what OpenJPEG / CharLS / libjpeg-turbo return."""
    syntax = runner.transfer_syntax
    if syntax in _JPEG_2000_SYNTAXES:
        samples = np.asarray(imagecodecs.jpeg2k_decode(src))  # OpenJPEG reads HTJ2K too
        if runner.photometric_interpretation in (PhotometricInterpretation.YBR_ICT,
                                                 PhotometricInterpretation.YBR_RCT):
            # OpenJPEG inverts the multiple-component transform itself (as pylibjpeg-openjpeg).
            runner.set_option("photometric_interpretation", PhotometricInterpretation.RGB)
        if samples.dtype.kind == "i" and runner.pixel_representation == 0:
            samples = samples.astype(samples.dtype.str.replace("i", "u"))
    elif syntax in _JPEG_LS_SYNTAXES:
        check_complete(src)
        samples = np.asarray(imagecodecs.jpegls_decode(src))
    else:
        check_complete(src)
        header = frame_header(src)
        lossy_colour = header is not None and header.components == 3 and header.marker not in _LOSSLESS
        samples = np.asarray(imagecodecs.jpeg8_decode(src))
        if lossy_colour and runner.photometric_interpretation != PhotometricInterpretation.RGB:
            runner.set_option("photometric_interpretation", PhotometricInterpretation.RGB)  # libjpeg made RGB
    if samples.ndim == 3:
        runner.set_option("planar_configuration", 0)  # samples last, as imagecodecs returns them
    runner.set_option("bits_allocated", samples.dtype.itemsize * 8)
    return samples.tobytes()


def register() -> None:
    """Add this plugin to pydicom's decoders of its syntaxes, after pydicom's own (idempotent)."""
    for syntax in _CODECS:
        decoder = get_decoder(syntax)
        # pydicom lists unavailable plugins only privately; add_plugin refuses a label it has.
        if PLUGIN not in decoder.available_plugins and PLUGIN not in decoder._unavailable:
            decoder.add_plugin(PLUGIN, (__name__, "decode_frame"))
