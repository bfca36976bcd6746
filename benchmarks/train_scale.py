"""Data-parallel scaling on this machine: 1 process vs 2 torchrun processes (gloo).

    python benchmarks/train_scale.py [--preset dcgan-64] [--steps 200] [--batch 64]

Runs the same training three times on the built-in faces, with the same global batch:
one process with all cores' threads (what `genrestore train` does), one process with one
thread, and `torchrun --nproc_per_node 2` (one thread each, gradients all-reduced over
gloo). Prints img/s (median of the logged windows after the first), the ratios, and the
loss curves side by side: data-parallel training must follow the same curve.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run(name: str, nproc: int, threads: int, args, out: Path) -> dict:
    train = [
        "-m",
        "genrestore",
        "train",
        "gan",
        "--preset",
        args.preset,
        "--steps",
        str(args.steps),
    ]
    train += [
        "--batch",
        str(args.batch),
        "--count",
        str(args.count),
        "--log-every",
        str(args.log_every),
    ]
    train += ["--save-every", str(args.steps), "--sample-every", str(args.steps), "--no-progress"]
    train += ["--out", str(out)]
    if nproc == 1:
        cmd = [sys.executable, *train]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={nproc}", *train]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    rows = [json.loads(x) for x in (out / "log.txt").read_text().splitlines() if x.startswith("{")]
    ips = float(np.median([r["img_s"] for r in rows[1:]]))
    return {"name": name, "rows": rows, "img_s": ips, "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dcgan-64")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64, help="global batch (all processes)")
    ap.add_argument("--count", type=int, default=2048, help="built-in faces to train on")
    ap.add_argument("--log-every", type=int, default=25)
    args = ap.parse_args()

    from genrestore.data.avatars import load_faces

    load_faces(args.count, 64)  # render/cache once, outside the timings
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            run(f"1 process x {cores} threads", 1, cores, args, Path(tmp, "a")),
            run("1 process x 1 thread", 1, 1, args, Path(tmp, "b")),
            run("2 processes x 1 thread (gloo)", 2, 1, args, Path(tmp, "c")),
        ]
    print(
        f"{args.preset}, global batch {args.batch}, {args.steps} steps, {cores} cores, "
        "img/s = median of logged windows after the first"
    )
    for r in results:
        print(
            f"  {r['name']:<32} {r['img_s']:7.1f} img/s   (whole run incl. start-up "
            f"{r['wall']:.0f} s)"
        )
    full, one, two = (r["img_s"] for r in results)
    print(f"2 processes vs 1 process with the same {cores} cores: {two / full:.2f}x")
    print(
        f"2 processes vs 1 process x 1 thread: {two / one:.2f}x "
        f"(per-process efficiency {two / (2 * one):.0%}; ideal 2.00x with a core each)"
    )
    print("loss curves (loss_d / loss_g):")
    print("  step  " + "".join(f"{r['name']:>34}" for r in results))
    for i, row in enumerate(results[0]["rows"]):
        cells = []
        for r in results:
            q = r["rows"][i]
            cells.append(f"{q['loss_d']:8.3f} / {q['loss_g']:7.3f}".rjust(34))
        print(f"  {row['step']:>4}  " + "".join(cells))


if __name__ == "__main__":
    main()
