import numpy as np
import pytest
from PIL import Image

from helpers.dicom import dicom_bytes
from helpers.images import encode, png, png_with_claimed_size, random_image
from medembed_decode import DecodeError, DecodeErrorKind, DecodeLimits, decode_image, sniff_format

LIMITS = DecodeLimits(max_image_bytes=1_000_000, max_pixels=4_000_000, min_side=8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "BMP", "WEBP"])
def test_allowed_formats_decode_to_rgb(fmt):
    data = encode(random_image(3, size=40), fmt)
    assert sniff_format(data) == fmt
    image = decode_image(data, LIMITS)
    assert image.mode == "RGB" and image.size == (40, 40)


@pytest.mark.parametrize(("data", "kind"), [
    (b"", DecodeErrorKind.DECODE_ERROR),
    (png(0)[:60], DecodeErrorKind.DECODE_ERROR),
    (b"just some text\n", DecodeErrorKind.UNSUPPORTED_FORMAT),
    (b"GIF89a" + b"\0" * 100, DecodeErrorKind.UNSUPPORTED_FORMAT),
    (png_with_claimed_size(30000, 30000), DecodeErrorKind.TOO_LARGE),
    (encode(random_image(0, size=1)), DecodeErrorKind.TOO_SMALL),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 1_000_001, DecodeErrorKind.TOO_LARGE),
])
def test_bad_input_gets_its_kind_and_a_message(data, kind):
    with pytest.raises(DecodeError) as caught:
        decode_image(data, LIMITS)
    assert caught.value.kind == kind
    assert str(caught.value)


def test_pixel_cap_is_checked_from_the_header_before_decoding():
    # A 30000x30000 claim must be refused without allocating 900 M pixels: the data is 100 bytes.
    data = png_with_claimed_size(30000, 30000)
    with pytest.raises(DecodeError, match="900000000 pixels"):
        decode_image(data, DecodeLimits(10**9, 10**6, 1))


def test_16_bit_gray_is_min_max_scaled_and_stays_gray():
    pixels = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16).repeat(8, 0).repeat(8, 1)
    image = decode_image(encode(Image.fromarray(pixels)), LIMITS)
    array = np.asarray(image)
    assert image.mode == "L" and array.shape == (16, 16)
    assert array.min() == 0 and array.max() == 255
    assert array[0, 8] == round((2000 - 1000) * 255 / 4000)


@pytest.mark.parametrize("mode", ["L", "LA", "1"])
def test_single_channel_sources_decode_to_mode_l(mode):
    image = decode_image(encode(random_image(1, size=24).convert(mode)), LIMITS)
    assert image.mode == "L"


def test_constant_16_bit_image_becomes_black_not_nan():
    image = decode_image(encode(Image.fromarray(np.full((16, 16), 777, dtype=np.uint16))), LIMITS)
    assert np.asarray(image).max() == 0


def test_dicom_monochrome1_is_inverted_after_rescale():
    pixels = np.tile(np.arange(16, dtype=np.uint16) * 100, (16, 1))
    normal = np.asarray(decode_image(dicom_bytes(pixels, "MONOCHROME2", slope=2, intercept=-1024), LIMITS))
    inverted = np.asarray(decode_image(dicom_bytes(pixels, "MONOCHROME1", slope=2, intercept=-1024), LIMITS))
    assert sniff_format(dicom_bytes(pixels)) == "DICOM"
    assert normal.ndim == 2 and normal[0, 0] == 0 and normal[0, -1] == 255
    np.testing.assert_array_equal(inverted, 255 - normal)


def test_dicom_window_is_applied():
    pixels = np.tile(np.arange(16, dtype=np.uint16) * 100, (16, 1))  # 0..1500
    windowed = np.asarray(decode_image(dicom_bytes(pixels, window=(400, 200)), LIMITS))[0, :]
    assert windowed[:3].max() == 0  # values <= 300 are below the window
    assert windowed[-5:].min() == 255  # values >= 1100 are above it


def test_dicom_pixel_cap_uses_the_header():
    pixels = np.zeros((64, 64), dtype=np.uint16)
    with pytest.raises(DecodeError) as caught:
        decode_image(dicom_bytes(pixels), DecodeLimits(10**7, 1000, 1))
    assert caught.value.kind == DecodeErrorKind.TOO_LARGE
