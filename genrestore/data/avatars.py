"""The built-in face set: procedural cartoon faces drawn by python-avatars, rendered offline.

Face ``i`` is ``random.seed(i); python_avatars.Avatar.random()``, rendered by resvg on white,
padded from 264x280 to a 280x280 square and resized with LANCZOS. Training uses indices
``[0, N)``; evaluation uses indices from ``EVAL_START`` on, so the two never overlap.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import random
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from PIL import Image

from .cache import cache_dir, cache_lock, load_array, save_array

FORMAT_VERSION = 1
EVAL_START = 1_000_000
MIN_SIZE, MAX_SIZE = 16, 256
_CHUNK = 64

log = logging.getLogger("genrestore")


def render_face(index: int, size: int) -> np.ndarray:
    """Render face ``index`` as a uint8 array (size, size, 3). Same index -> same pixels."""
    import python_avatars
    import resvg_py

    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"face size must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
    state = random.getstate()
    try:
        random.seed(index)
        svg = python_avatars.Avatar.random().render()
    finally:
        random.setstate(state)
    png = resvg_py.svg_to_bytes(svg_string=svg, background="white")
    img = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    side = max(img.size)
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    square.alpha_composite(img, ((side - img.width) // 2, (side - img.height) // 2))
    square = square.convert("RGB").resize((size, size), Image.LANCZOS)
    return np.asarray(square, dtype=np.uint8)


def _render_chunk(args: tuple[int, int, int]) -> np.ndarray:
    start, stop, size = args
    return np.stack([render_face(i, size) for i in range(start, stop)])


def render_faces(
    start: int, count: int, size: int, *, workers: int | None = None, progress: bool = True
) -> np.ndarray:
    """Render faces ``start .. start+count-1`` -> uint8 (count, size, size, 3), in parallel."""
    from tqdm import tqdm

    out = np.empty((count, size, size, 3), dtype=np.uint8)
    chunks = [
        (s, min(s + _CHUNK, start + count), size) for s in range(start, start + count, _CHUNK)
    ]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=count, desc=f"rendering faces {size}px", unit="face", disable=not progress)
    with bar:
        if workers == 1 or len(chunks) == 1:
            for c in chunks:
                out[c[0] - start : c[1] - start] = _render_chunk(c)
                bar.update(c[1] - c[0])
        else:
            # spawn, not fork: forking a process whose torch threads are running can hang.
            ctx = multiprocessing.get_context("spawn")
            done = 0
            try:
                with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=ctx) as pool:
                    for c, arr in zip(chunks, pool.map(_render_chunk, chunks)):
                        out[c[0] - start : c[1] - start] = arr
                        bar.update(c[1] - c[0])
                        done += 1
            except BrokenProcessPool:  # e.g. a __main__ that spawn cannot re-import (stdin)
                log.warning("worker processes failed to start; rendering in this process")
                for c in chunks[done:]:
                    out[c[0] - start : c[1] - start] = _render_chunk(c)
                    bar.update(c[1] - c[0])
    return out


def load_faces(count: int, size: int = 64, *, start: int = 0, progress: bool = True) -> np.ndarray:
    """The face set as uint8 (count, size, size, 3), rendered once and cached.

    The cache is one .npy per (size, start, count, format version) under ``cache_dir()``;
    later calls memory-map it (milliseconds). A larger cached set with the same start and
    size is reused by slicing, so asking for fewer faces never renders again.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"face size must be in [{MIN_SIZE}, {MAX_SIZE}], got {size}")
    prefix = f"avatars-v{FORMAT_VERSION}-{size}px-from{start}-"
    found = _cached_faces(prefix, count, size)
    if found is not None:
        return found
    with cache_lock(prefix + "render"):  # one process renders; the others wait, then map it
        found = _cached_faces(prefix, count, size)
        if found is not None:
            return found
        t0 = time.perf_counter()
        arr = render_faces(start, count, size, progress=progress)
        dt = time.perf_counter() - t0
        log.info("rendered %d faces at %dpx in %.1f s (%.0f faces/s)", count, size, dt, count / dt)
        path = cache_dir() / f"{prefix}{count}.npy"
        save_array(path, arr)
        return load_array(path)


def _cached_faces(prefix: str, count: int, size: int) -> np.ndarray | None:
    """The smallest cached set with at least ``count`` faces, sliced to ``count``; or None."""
    root = cache_dir()
    best = None
    for p in root.glob(prefix + "*.npy"):
        try:
            n = int(p.stem[len(prefix) :])
        except ValueError:
            continue
        if n >= count and (best is None or n < best[0]):
            best = (n, p)
    if best is not None:
        arr = load_array(best[1])
        if arr is not None and arr.shape == (best[0], size, size, 3):
            return arr[:count]
    return None


def load_eval_faces(count: int, size: int = 64, *, progress: bool = True) -> np.ndarray:
    """Held-out faces (indices from ``EVAL_START``), never seen in training."""
    return load_faces(count, size, start=EVAL_START, progress=progress)
