"""Shared fixtures: every test gets its own cache and checkpoint folders."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def _probe_cache(tmp_path_factory):
    """One compute-probe cache for the whole run: the probe measures this machine once."""
    return tmp_path_factory.mktemp("probe") / "compute-probe.json"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch, _probe_cache):
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENRESTORE_PROBE_CACHE", str(_probe_cache))
    for name in ("GENRESTORE_PRECISION", "GENRESTORE_LAYOUT", "GENRESTORE_THREADS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tiny_images():
    """64 random-ish 16 px uint8 images (N, 16, 16, 3) with some structure."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 1, 1, 3))
    noise = rng.integers(0, 60, (64, 16, 16, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)
