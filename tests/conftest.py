import os
from pathlib import Path

import jax
import pytest

# float64 must be available for the float64 half of the suite and the geomstats oracle.
jax.config.update("jax_enable_x64", True)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data; in CI a missing folder is a failure, not a skip."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data missing at {SHARED_DATA} (CI is set): check out ../shared")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
