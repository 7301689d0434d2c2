"""`medembed-evaluate run` with an analysis section, against a real encoder, and its report.html in a
real headless Chromium: loads with no console error, fetches nothing, every image renders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from helpers.browser import HeadlessChromium, chromium_binary
from medembed_evaluator.cli import main as evaluate

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def run_dir(tiny_server, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    plan = {
        "name": "report", "encoders": {"default": tiny_server.target},
        "models": [{"id": "raw-pixels", "group": "non-VLM", "label": "Raw pixels"},
                   {"id": "tiny-clip", "group": "non-medical", "label": "Tiny CLIP"}],
        "datasets": [{"name": "phantoms", "kind": "phantoms",
                      "options": {"n_per_class": 15, "size": 64, "text_correlation": 1.0}}],
        "protocol": {"seed": 0, "folds": 3},
        "analysis": {"maps": "grid", "n_neighbors": [5, 15, 50], "min_dist": [0.1, 0.5],
                     "bias": {"max_images": 45}},
    }
    (root / "plan.yaml").write_text(yaml.safe_dump(plan))
    argv = ["run", str(root / "plan.yaml"), "--out", str(root / "out"), "--run-id", "run", "--quiet"]
    assert evaluate(argv) == 0
    return root / "out" / "run"


def test_run_writes_every_output_of_the_analysis(run_dir) -> None:
    document = json.loads((run_dir / "results.json").read_text())
    for result in document["results"]:
        analysis = result["analysis"]
        assert analysis["separability"]["trustworthiness"] is not None
        assert [Path(f["path"]).name.split("__")[-1] for f in analysis["figures"]] == ["map.png", "grid.png"]
        assert "map grid: n_neighbors 50 skipped (the map has 45 points)" in analysis["notes"]
        assert [c["condition"] for c in result["bias"]["conditions"]] == ["neutral", "true-class", "wrong-class"]
        assert "right by overlay_text" in analysis["figures"][0]["caption"]
    table = (run_dir / "table.md").read_text()
    assert "## Separability" in table and "## Text-overlay bias" in table
    assert len((run_dir / "bias.csv").read_text().splitlines()) == 1 + 2 * 3


def test_report_renders_in_headless_chromium(run_dir, tmp_path) -> None:
    binary = chromium_binary()
    if binary is None:
        pytest.fail("no chromium: install Debian's `chromium` (.ci/run does) or set MEDEMBED_CHROMIUM")
    with HeadlessChromium(binary, tmp_path / "profile") as browser:
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        browser.call("Page.navigate", url=(run_dir / "report.html").as_uri())
        browser.wait_for_event("Page.loadEventFired")
        images = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])")
        tables = browser.evaluate("document.querySelectorAll('table').length")
        screenshot = browser.full_page_png()
        events = list(browser.events)

    assert len(images) == 2 * 2 + 1  # per model a map and a grid, plus the overlay examples
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert tables == 5  # benchmark, holdout scores with bootstrap intervals, datasets, separability, bias
    errors = [e for e in events if e["method"] in ("Runtime.exceptionThrown",)
              or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    fetched = [e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"]
    assert fetched and all(url.startswith(("file:", "data:")) for url in fetched), fetched

    path = tmp_path / "report.png"
    path.write_bytes(screenshot)
    with Image.open(path) as image:
        assert image.width > 1200 and image.height > 2000  # the whole page (less a scrollbar): tables, figures
        assert len(image.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # not a blank page
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / "report-screenshot.png")
