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


@pytest.fixture(scope="session", autouse=True)
def subprocess_compilation_cache(tmp_path_factory) -> Path:
    """One persistent XLA compilation cache for the subprocesses this test worker starts.

    A resume test runs the same experiment three times (straight, killed, resumed) and the
    device tests start fresh interpreters; with the cache only the first run of a program
    compiles it. The variables go into os.environ after this process imported JAX, so they
    reach the subprocesses only (each copies os.environ) and not the suite's own programs.
    """
    cache = tmp_path_factory.mktemp("xla-cache")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(cache)
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return cache
