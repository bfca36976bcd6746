"""Shared fixtures: every test gets its own cache and checkpoint folders."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tiny_images():
    """64 random-ish 16 px uint8 images (N, 16, 16, 3) with some structure."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 1, 1, 3))
    noise = rng.integers(0, 60, (64, 16, 16, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)
