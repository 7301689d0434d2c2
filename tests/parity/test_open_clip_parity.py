"""The open_clip family's catalog models, served over gRPC, equal their upstream reference (tests/helpers/parity):
fp32 CPU, max abs difference <= 1e-5, on a non-square RGB, a gray and a 16-bit image, for every spec."""

import pytest

from helpers.parity import failures, family_cases

FAMILY = "open_clip"


@pytest.mark.timeout(1800)  # the module's fixture builds and serves every model of the family
@pytest.mark.parametrize("model_id", [case.model_id for case in family_cases(FAMILY)])
def test_served_vector_equals_the_upstream_feature_function(parity_rows, model_id):
    assert failures(parity_rows, model_id) == []
