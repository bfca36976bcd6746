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


def interrupted_build(folder: Path, args) -> int:
    """Start the build in another process, SIGKILL it after a while, report what survived."""
    import signal
    import subprocess
    import sys

    code = (
        "import sys; from genrestore.data.folder import load_folder\n"
        "load_folder(sys.argv[1], int(sys.argv[2]), progress=False, workers=int(sys.argv[3]))"
    )
    cmd = [sys.executable, "-c", code, str(folder), str(args.size), str(args.workers)]
    proc = subprocess.Popen(cmd, start_new_session=True)
    time.sleep(args.interrupt_after)
    os.killpg(proc.pid, signal.SIGKILL)  # the build and its decoding workers
    proc.wait()
    records = list(Path(os.environ["GENRESTORE_CACHE"]).glob("folder-*.partial.json"))
    if not records:
        print(f"killed after {args.interrupt_after} s, but no progress record was written yet")
    else:
        print(f"build SIGKILLed after {args.interrupt_after} s; the next call resumes it")
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--interrupt-after",
        type=float,
        default=0.0,
        help="first kill a build after this many seconds, then time the resume",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp, "photos"), Path(tmp, "cache")
        folder.mkdir()
        os.environ["GENRESTORE_CACHE"] = str(cache)
        made = make_folder(folder, args.count, args.workers)
        mb = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / 2**20
        print(f"made {args.count} JPEGs ({mb:.0f} MB, 160-1024 px sides) in {made:.0f} s")

        from genrestore.data.folder import load_folder

        if args.interrupt_after:
            interrupted_build(folder, args)
        before_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        decoded: list[str] = []
        t = time.perf_counter()
        data = load_folder(
            folder,
            args.size,
            progress=False,
            workers=args.workers,
            on_decoded=lambda rel, _: decoded.append(rel),
        )
        dt = time.perf_counter() - t
        peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        n = len(data.images)
        done = n - len(decoded)  # recorded by the killed build, so not decoded again
        what = f"resumed build ({done} already done)" if args.interrupt_after else "cache build"
        print(
            f"{what}: {n} images at {args.size}px in {dt:.1f} s = {len(decoded) / dt:.0f} "
            "images/s decoded "
            f"with {args.workers} workers (target >= 300)"
        )
        print(
            f"peak RSS: this process {peak_self:.0f} MB (before the build "
            f"{before_self / 1024:.0f} MB), largest worker {peak_workers:.0f} MB (target < 2 GB)"
        )
        t = time.perf_counter()
        again = load_folder(folder, args.size, progress=False)
        print(
            f"second call (cache hit): {time.perf_counter() - t:.3f} s for {len(again.images)} images"
        )
        _make((str(folder), args.count, args.count + 100))  # the user adds 100 photos
        t = time.perf_counter()
        grown = load_folder(folder, args.size, progress=False, workers=args.workers)
        print(
            f"after adding 100 photos: new cache of {len(grown.images)} images in "
            f"{time.perf_counter() - t:.1f} s (unchanged rows copied, 100 decoded)"
        )


if __name__ == "__main__":
    main()
