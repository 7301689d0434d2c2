"""ItemStatus messages are one line of printable ASCII, bounded, whatever bytes a file put in them."""

from __future__ import annotations

import pytest

from medembed_encoder.items import MAX_MESSAGE_CHARS, ItemRecord, item_message


@pytest.mark.parametrize("raw", ["a\nb", "a\r\nb", "\x1b[2J", "bell\x07", "nul\x00", "tab\t", "line\u2028sep",
                                 "para\u2029sep", "next\x85line", "é ü 中", "\ud800"])
def test_every_character_outside_printable_ascii_is_escaped(raw):
    message = item_message(f"DICOM tag value {raw} is not read")
    assert message.isascii() and message.isprintable()
    assert len(message.splitlines()) == 1


def test_printable_ascii_is_kept_and_long_messages_are_bounded():
    assert item_message("plain text: (0028,0010) Rows 0") == "plain text: (0028,0010) Rows 0"
    long = item_message("x" * 100_000)
    assert len(long) < MAX_MESSAGE_CHARS + 40 and "more characters" in long


def test_the_record_sets_its_message_through_it():
    record = ItemRecord(0, "", "0" * 64).failed(3, "bad\nvalue")
    assert record.message == "bad\\nvalue"
