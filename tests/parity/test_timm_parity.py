"""The timm family's catalog models, served over gRPC, equal their upstream reference (tests/helpers/parity):
fp32 CPU, max abs difference <= 1e-5, on a non-square RGB, a gray and a 16-bit image, for every spec."""

import pytest

from helpers.parity import ParityCase, failures, family_cases, load_cases, run_cases

FAMILY = "timm"


@pytest.mark.timeout(1800)  # the module's fixture builds and serves every model of the family
@pytest.mark.parametrize("model_id", [case.model_id for case in family_cases(FAMILY)])
def test_served_vector_equals_the_upstream_feature_function(parity_rows, model_id):
    assert failures(parity_rows, model_id) == []


@pytest.mark.timeout(900)
def test_a_deviation_from_upstream_fails_the_bar(tmp_path):
    """The same weights served with timm's own rounded tf_efficientnet_lite0 scaling, (x - 127.5) / 127.5,
    instead of EfficientNet-Lite's (x - 127) / 128: the comparison must see it."""
    case = load_cases()["efficientnet-lite0-imagenet"]

    def rounded_scaling(ctx):
        built = case.build(ctx)
        built.entry.pop("options")  # timm's tf_efficientnet_lite0 config: mean = std = 0.5
        return built

    rows = run_cases([ParityCase(case.model_id, case.family, rounded_scaling)], tmp_path)
    assert failures(rows, case.model_id)
    assert min(row.max_abs for row in rows) > 1e-3
