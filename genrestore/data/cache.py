"""Where decoded datasets are cached, and how a uint8 image array is stored there."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """``$GENRESTORE_CACHE``, else ``$XDG_CACHE_HOME/genrestore``, else ``~/.cache/genrestore``."""
    if os.environ.get("GENRESTORE_CACHE"):
        root = Path(os.environ["GENRESTORE_CACHE"])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        root = Path(xdg) / "genrestore"
    root.mkdir(parents=True, exist_ok=True)
    return root


def load_array(path: Path) -> np.ndarray | None:
    """Memory-map a cached uint8 array (N, H, W, 3); None if absent or unreadable."""
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None


def save_array(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as .npy atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr)
    os.replace(tmp, path)
