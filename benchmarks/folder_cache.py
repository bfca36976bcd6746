"""Folder-cache build speed and peak memory on a synthetic folder of mixed-size JPEGs.

    python benchmarks/folder_cache.py [--count 20000] [--size 64] [--workers N]

Generates COUNT JPEGs (random sizes from 160 to 1024 px a side, random aspect) in a temporary
folder, then times `genrestore.data.folder.load_folder` building the uint8 cache from them
(decode + EXIF + RGB + centre crop + resize, in parallel), and prints images/s and the peak
resident memory of this process and of its worker processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def _make(args: tuple[str, int, int]) -> None:
    folder, start, stop = args
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        w, h = (int(v) for v in rng.integers(160, 1025, 2))
        small = rng.integers(0, 255, (max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BILINEAR)
        sub = Path(folder) / f"{i % 100:02d}"
        sub.mkdir(exist_ok=True)
        img.save(sub / f"{i:06d}.jpg", quality=90)


def make_folder(folder: Path, count: int, workers: int) -> float:
    """Write ``count`` JPEGs under ``folder``; returns seconds taken."""
    t = time.perf_counter()
    chunks = [(str(folder), s, min(s + 500, count)) for s in range(0, count, 500)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        list(pool.map(_make, chunks))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp, "photos"), Path(tmp, "cache")
        folder.mkdir()
        os.environ["GENRESTORE_CACHE"] = str(cache)
        made = make_folder(folder, args.count, args.workers)
        mb = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20
        print(f"made {args.count} JPEGs ({mb:.0f} MB, 160-1024 px sides) in {made:.0f} s")

        from genrestore.data.folder import load_folder

        before_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.perf_counter()
        data = load_folder(folder, args.size, progress=False, workers=args.workers)
        dt = time.perf_counter() - t
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        n = len(data.images)
        print(f"cache build: {n} images at {args.size}px in {dt:.1f} s = {n / dt:.0f} images/s "
              f"with {args.workers} workers (target >= 300)")
        print(f"peak RSS: this process {peak_self:.0f} MB (before the build "
              f"{before_self / 1024:.0f} MB), largest worker {peak_workers:.0f} MB (target < 2 GB)")
        t = time.perf_counter()
        again = load_folder(folder, args.size, progress=False)
        print(f"second call (cache hit): {time.perf_counter() - t:.3f} s for {len(again.images)} images")


if __name__ == "__main__":
    main()
