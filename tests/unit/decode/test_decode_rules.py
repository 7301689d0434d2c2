"""The decode rules on a generated corpus of every kind of input: the right pixels or the right error."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from helpers.decode_corpus import CORPUS, Case, windowed
from medembed_decode import DEFAULT_LIMITS, DecodeError, DecodeErrorKind, decode, decode_image, rules_identity


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_each_kind_decodes_to_its_expected_pixels_or_fails_with_its_code(case: Case) -> None:
    if case.expected is None:
        with pytest.raises(DecodeError) as caught:
            decode(case.data, DEFAULT_LIMITS)
        assert caught.value.kind.value == case.code
        assert case.message in str(caught.value)
        return
    decoded = decode(case.data, DEFAULT_LIMITS)
    assert decoded.pixels.dtype == np.uint8
    assert decoded.pixels.shape == case.expected.shape
    np.testing.assert_array_equal(decoded.pixels, case.expected)
    assert decode_image(case.data, DEFAULT_LIMITS).mode == ("L" if case.expected.ndim == 2 else "RGB")


def test_messages_are_one_line_for_a_person(capfd: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for case in CORPUS:
            try:
                decode(case.data, DEFAULT_LIMITS)
            except DecodeError as exc:
                message = str(exc)
                assert message and "\n" not in message, case.name
                assert " at 0x" not in message and "BytesIO" not in message, (case.name, message)
    assert caught == []  # no numpy, pydicom or Pillow warning escapes
    assert capfd.readouterr().err == ""  # nor anything a C decoder prints


def test_an_ignored_window_is_said_so_and_names_the_tag() -> None:
    decoded = decode(windowed(WindowCenter=b"1128", WindowWidth=b"0"), DEFAULT_LIMITS)
    assert decoded.notes == ("window ignored: (0028,1051) Window Width 0 must be >= 1 for LINEAR",)
    assert decode(windowed(WindowCenter=b"1128", WindowWidth=b"256"), DEFAULT_LIMITS).notes == ()


def test_two_windows_give_two_images() -> None:
    first = decode(windowed(WindowCenter=b"1128", WindowWidth=b"256"), DEFAULT_LIMITS).pixels
    second = decode(windowed(WindowCenter=b"1100", WindowWidth=b"256"), DEFAULT_LIMITS).pixels
    assert not np.array_equal(first, second)


def test_decode_errors_survive_the_trip_from_a_worker_process() -> None:
    error = pickle.loads(pickle.dumps(DecodeError(DecodeErrorKind.TOO_LARGE, "too big")))
    assert error.kind == DecodeErrorKind.TOO_LARGE and str(error) == "too big"


def test_rules_identity_names_every_decoder_and_its_version() -> None:
    identity = rules_identity()
    assert identity.startswith("decode-rules:4 ")
    for library in ("numpy", "pillow", "pydicom", "imagecodecs", "tifffile", "simplejpeg"):
        assert f" {library}:" in identity
