import pytest

from helpers.parity import family_cases, run_cases


@pytest.fixture(scope="module")
def parity_rows(request, tmp_path_factory):
    """Every case of the module's FAMILY, served by one encoder server: rows of served vs upstream vectors."""
    family = request.module.FAMILY
    return run_cases(family_cases(family), tmp_path_factory.mktemp(f"parity-{family}"))
