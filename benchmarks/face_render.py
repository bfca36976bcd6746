"""Render speed of the built-in face set (faces/s), one process vs all cores.

python benchmarks/face_render.py [--count 256] [--size 64]
"""

from __future__ import annotations

import argparse
import os
import time

from genrestore.data.avatars import render_faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=256)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    rates = {}
    for workers in sorted({1, cores}):
        t = time.perf_counter()
        render_faces(0, args.count, args.size, workers=workers, progress=False)
        rates[workers] = args.count / (time.perf_counter() - t)
        print(
            f"{workers} process(es): {rates[workers]:6.1f} faces/s at {args.size}px ({args.count} faces)"
        )
    if cores > 1:
        print(f"speed-up with {cores} processes: {rates[cores] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
