"""The token file is applied line by line: valid lines replace the file's tokens, invalid lines are
skipped with a warning naming their numbers, so a removed token stops working at the next reload."""

from __future__ import annotations

import logging
import os

import pytest

from medembed_encoder import security
from medembed_encoder.config import ConfigError
from medembed_encoder.security import TokenSet

OLD = "token-old-aaaaaaaaaaaaaaaa"
NEW = "token-new-bbbbbbbbbbbbbbbb"


def rewrite(path, text: str) -> None:
    before = os.stat(path).st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a new stamp even on a coarse clock


def test_a_removed_token_is_refused_after_a_reload_with_an_invalid_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(security, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "tokens"
    path.write_text(f"{OLD}\n")
    tokens = TokenSet((), str(path))
    assert tokens.accepts(OLD)
    rewrite(path, f"# rotated\nshort\n{NEW}\nwith a space inside it\n")
    with caplog.at_level(logging.WARNING, logger="medembed_encoder.security"):
        assert not tokens.accepts(OLD)
    assert tokens.accepts(NEW)
    skipped = [r for r in caplog.records if r.getMessage() == "token_file_lines_skipped"]
    assert len(skipped) == 1 and skipped[0].fields["lines"] == [2, 4]
    assert "short" not in str(skipped[0].fields)


def test_a_file_with_only_invalid_lines_accepts_no_file_token(tmp_path, monkeypatch):
    monkeypatch.setattr(security, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "tokens"
    path.write_text(f"{OLD}\n")
    tokens = TokenSet(("env-token-cccccccccccccccc",), str(path))
    rewrite(path, "short\n")
    assert not tokens.accepts(OLD)
    assert tokens.accepts("env-token-cccccccccccccccc")


def test_an_unreadable_file_keeps_the_tokens_and_no_token_at_start_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(security, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "tokens"
    path.write_text(f"{OLD}\n")
    tokens = TokenSet((), str(path))
    path.unlink()
    assert tokens.accepts(OLD)
    empty = tmp_path / "empty"
    empty.write_text("short\n")
    with pytest.raises(ConfigError, match=r"holds no valid token"):
        TokenSet((), str(empty))
