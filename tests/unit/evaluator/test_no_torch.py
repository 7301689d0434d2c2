from __future__ import annotations

import pkgutil
import subprocess
import sys

import medembed_evaluator


def test_no_module_of_the_package_imports_torch() -> None:
    modules = [m.name for m in pkgutil.walk_packages(medembed_evaluator.__path__, "medembed_evaluator.")]
    assert "medembed_evaluator.probe" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'torchvision', 'timm', 'open_clip'})\n"
        "print(heavy)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
