"""A short run of the decode fuzz (bench/decode_fuzz.py runs 10,000 inputs): no input may end in an
exception that is not a DecodeError (the server's `internal`)."""

from __future__ import annotations

from helpers.decode_fuzz import run_fuzz


def test_hostile_dicom_headers_and_mutated_files_never_end_in_internal() -> None:
    report = run_fuzz(150, seed=7)
    assert report.count == 300
    assert report.outcomes["internal"] == 0, report.internal
    assert report.outcomes["ok"] and report.outcomes["decode_error"]  # the run reached both ends
