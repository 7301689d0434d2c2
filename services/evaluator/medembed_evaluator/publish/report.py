"""report.html: one self-contained page per run (tables, figures inlined as data URIs, no scripts,
nothing fetched), readable offline and safe to mail around."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from medembed_evaluator.analysis.figures import FigureFile
from medembed_evaluator.pair_result import PairResult, RunExtras, RunInfo
from medembed_evaluator.plan.schema import ModelEntry
from medembed_evaluator.publish.context import (
    DATASETS_NOTE,
    benchmark_notes,
    datasets_table,
    encoder_versions,
    grouped_versions,
    probe_note,
)
from medembed_evaluator.publish.files import package_versions
from medembed_evaluator.publish.holdout import HOLDOUT_NOTE, holdout_table
from medembed_evaluator.publish.table import (
    BIAS_NOTE,
    SEPARABILITY_NOTE,
    benchmark_table,
    bias_table,
    separability_table,
    without_result_lines,
)
from medembed_evaluator.publish.tabular import to_html

REPORT_NAME = "report.html"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 78rem; padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.6rem; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.88rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.55rem; text-align: left; }
thead th { background: #f2f2f5; }
.note { color: #555; font-size: 0.9rem; max-width: 62rem; }
figure { margin: 1rem 0 2rem; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.88rem; max-width: 62rem; margin-top: 0.3rem; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; font-size: 0.9rem; }
dt { font-weight: 600; }
"""


def write_report(
    run_dir: Path,
    results: Sequence[PairResult],
    dataset_names: Sequence[str],
    run: RunInfo,
    *,
    models: Sequence[ModelEntry] = (),
    extras: RunExtras | None = None,
) -> Path:
    """Write the self-contained report (REPORT_NAME, figures inlined) into `run_dir`; returns its path."""
    run_dir = Path(run_dir)
    path = run_dir / REPORT_NAME
    path.write_text(render_report(run_dir, results, dataset_names, run, models=models, extras=extras),
                    encoding="utf-8")
    return path


def render_report(
    run_dir: Path,
    results: Sequence[PairResult],
    dataset_names: Sequence[str],
    run: RunInfo,
    *,
    models: Sequence[ModelEntry] = (),
    extras: RunExtras | None = None,
) -> str:
    """The page as a string; figures are read from `run_dir` and inlined."""
    extras = extras or RunExtras()
    parts = [
        f"<h1>medembed report: {_text(run.run_id)}</h1>",
        _run_facts(run),
        "<h2>Linear-probe benchmark</h2>",
        _note((probe_note(results) or f"Probes: {', '.join(run.protocol.probes)}.") + " Best per column in bold."),
        to_html(benchmark_table(results, dataset_names, models=models, comparison=extras.comparison,
                                failures=extras.failures)),
        *(_note(note) for note in benchmark_notes(results, extras.comparison)),
    ]
    holdout = holdout_table(results, dataset_names)
    if holdout is not None:
        parts += ["<h3>Holdout scores with 95 % bootstrap intervals</h3>", _note(HOLDOUT_NOTE), to_html(holdout)]
    without = without_result_lines(results, dataset_names, models, extras.failures)
    if without:
        parts += ["<h3>Pairs without a result (– in the table)</h3>", "<ul>",
                  *(f"<li>{_text(line)}</li>" for line in without), "</ul>"]
    if extras.datasets:
        parts += ["<h2>Datasets</h2>", _note(DATASETS_NOTE), to_html(datasets_table(extras.datasets))]
    separability = separability_table(results, dataset_names)
    if separability is not None:
        parts += ["<h2>Separability</h2>", _note(SEPARABILITY_NOTE), to_html(separability)]
    bias = bias_table(results, dataset_names)
    if bias is not None:
        examples = list({r.bias.example.path: r.bias.example for r in results if r.bias}.values())
        parts += ["<h2>Text-overlay bias</h2>", _note(BIAS_NOTE), to_html(bias),
                  *(_figure(run_dir, figure) for figure in examples)]
    parts += _maps(run_dir, results, dataset_names)
    parts += _notes(results)
    parts += _versions(results)
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>medembed report {_text(run.run_id)}</title>\n<style>{_STYLE}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _run_facts(run: RunInfo) -> str:
    facts = {"Plan": run.plan_name, "Started": run.started_at, "Finished": run.finished_at,
             "Probes": ", ".join(run.protocol.probes), "Seeds": ", ".join(map(str, run.protocol.seeds)),
             "Bootstrap resamples": str(run.protocol.bootstrap)}
    return _facts(facts)


def _facts(facts: dict[str, str]) -> str:
    return "<dl>" + "".join(f"<dt>{_text(k)}</dt><dd>{_text(v)}</dd>" for k, v in facts.items()) + "</dl>"


def _versions(results: Sequence[PairResult]) -> list[str]:
    """Every package version that computed a number: the evaluator's, then each encoder's by model."""
    def listed(versions: dict[str, str | None]) -> str:
        return ", ".join(f"{name} {version}" for name, version in versions.items() if version)

    facts = {"Evaluator": listed(package_versions())}
    for model_ids, versions in grouped_versions(encoder_versions(results)):
        facts[f"Encoder for {', '.join(model_ids)}"] = listed(versions)
    return ["<h2>Versions</h2>", _note("The packages that computed this report's numbers: the evaluator's probe, "
                                       "analysis and raw pixels, and each encoder's model library, torch and "
                                       "image decoders (from its ListModels)."), _facts(facts)]


def _maps(run_dir: Path, results: Sequence[PairResult], dataset_names: Sequence[str]) -> list[str]:
    mapped = [r for r in results if r.analysis and r.analysis.figures]
    if not mapped:
        return []
    parts = ["<h2>Feature maps</h2>"]
    for dataset in dataset_names:
        on_dataset = [r for r in mapped if r.dataset == dataset]
        if on_dataset:
            parts.append(f"<h3>{_text(dataset)}</h3>")
            parts += [_figure(run_dir, figure) for r in on_dataset for figure in r.analysis.figures]
    return parts


def _notes(results: Sequence[PairResult]) -> list[str]:
    items = []
    for result in results:
        notes = [*(result.analysis.notes if result.analysis else []), *(result.bias.notes if result.bias else [])]
        if result.n_failed:
            notes.append(f"{result.n_failed} item(s) failed to embed and are excluded")
        items += [f"<li>{_text(result.model_label)} on {_text(result.dataset)}: {_text(note)}</li>" for note in notes]
    return ["<h2>Notes</h2>", "<ul>", *items, "</ul>"] if items else []


def _figure(run_dir: Path, figure: FigureFile) -> str:
    encoded = base64.b64encode((run_dir / figure.path).read_bytes()).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{encoded}" alt="{_text(figure.caption)}">'
            f"<figcaption>{_text(figure.caption)}</figcaption></figure>")


def _note(text: str) -> str:
    return f'<p class="note">{_text(text)}</p>'


def _text(value: object) -> str:
    return html.escape(str(value))
