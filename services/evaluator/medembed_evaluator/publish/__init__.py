"""Publishing finished results: the study's Markdown table (plus separability and bias tables), CSV,
JSON, a self-contained HTML report, and a Redis stream."""

from medembed_evaluator.pair_result import RunExtras
from medembed_evaluator.publish.files import RunFiles, package_versions, write_run_files
from medembed_evaluator.publish.report import REPORT_NAME, render_report, write_report
from medembed_evaluator.publish.stream import RESULTS_STREAM, publish_to_stream
from medembed_evaluator.publish.table import format_score, render_table, render_tables

__all__ = [
    "REPORT_NAME",
    "RESULTS_STREAM",
    "RunExtras",
    "RunFiles",
    "format_score",
    "package_versions",
    "publish_to_stream",
    "render_report",
    "render_table",
    "render_tables",
    "write_report",
    "write_run_files",
]
