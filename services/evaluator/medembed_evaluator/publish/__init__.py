"""Publishing finished results: the study's Markdown table, CSV, JSON and a Redis stream."""

from medembed_evaluator.publish.files import RunFiles, package_versions, write_run_files
from medembed_evaluator.publish.stream import RESULTS_STREAM, publish_to_stream
from medembed_evaluator.publish.table import format_score, render_table

__all__ = [
    "RESULTS_STREAM",
    "RunFiles",
    "format_score",
    "package_versions",
    "publish_to_stream",
    "render_table",
    "write_run_files",
]
