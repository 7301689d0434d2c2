"""Every catalog model has an upstream parity case, and the parity images are what upstream code reads."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.parity import CASE_MODULES, IMAGES, decoded, load_cases
from medembed_encoder.catalog import load_catalog

PARITY_DIR = Path(__file__).resolve().parents[1] / "helpers" / "parity"


def _where_to_add(family: str) -> str:
    """The case module of a family (registry.CASE_MODULES), or where to create one."""
    module = f"{family}_cases"
    if module in CASE_MODULES:
        return str(PARITY_DIR / f"{module}.py")
    return f"a new {PARITY_DIR / (module + '.py')} listed in CASE_MODULES of {PARITY_DIR / 'registry.py'}"


def test_every_catalog_model_has_a_parity_case():
    catalog, cases = load_catalog(), load_cases()
    missing = [f"{model_id!r} (family {catalog[model_id].family}): add @parity_case({model_id!r}, "
               f"{catalog[model_id].family!r}) to {_where_to_add(catalog[model_id].family)} (github_cases.py "
               "when the upstream code lives only on GitHub); README 'Adding a model' says how"
               for model_id in sorted(set(catalog) - set(cases))]
    assert not missing, "catalog entries without an upstream parity case:\n" + "\n".join(missing)
    stale = sorted(set(cases) - set(catalog))
    assert not stale, f"parity cases for ids the built-in catalog lacks (remove them or add the entry): {stale}"
    wrong_family = {model_id: (cases[model_id].family, catalog[model_id].family) for model_id in cases
                    if model_id in catalog and cases[model_id].family not in (catalog[model_id].family, "llava")}
    assert not wrong_family, f"parity cases served under another family than their entry's: {wrong_family}"


def test_the_8_bit_images_decode_to_what_upstream_reads_and_the_16_bit_one_is_min_max_scaled():
    for name, data in IMAGES.items():
        ours = np.asarray(decoded(data))
        theirs = Image.open(io.BytesIO(data))
        if name.startswith("gray16"):
            raw = np.asarray(theirs).astype(np.float64)
            scaled = (raw - raw.min()) / (raw.max() - raw.min()) * 255
            assert np.abs(ours.astype(np.float64) - scaled).max() <= 1.0  # medembed's rule, not a clip at 255
            assert np.asarray(theirs.convert("RGB")).max() == 255  # upstream's convert("RGB") clips
        else:
            assert decoded(data).mode == theirs.mode and np.array_equal(ours, np.asarray(theirs))
