"""Every test session gets its own GeoSynth cache and run cache (never the user's)."""

import os

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def isolated_caches(tmp_path_factory):
    root = tmp_path_factory.mktemp("stssl-cache")
    old = {k: os.environ.get(k) for k in ("STSSL_CACHE", "STSSL_RUNS")}
    os.environ["STSSL_CACHE"] = str(root / "data")
    os.environ["STSSL_RUNS"] = str(root / "runs")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
