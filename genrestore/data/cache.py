"""Where decoded datasets are cached, and how a uint8 image array is stored there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` in ``cache_dir()`` (blocks while another has it).

    Processes that want the same cache entry (the ranks of a torchrun job, two terminals)
    take turns: the first builds it, the others then find it built. The lock is released
    when the holder exits, however it exits, and its file is removed (a waiter that locked
    a removed file tries again). No-op where ``fcntl`` is missing (Windows).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = cache_dir() / f".{name}.lock"
    while True:
        f = open(path, "a+b")  # noqa: SIM115 -- closed below, after the unlock
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()  # the holder before us removed this file: lock the new one
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()
