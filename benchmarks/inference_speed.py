"""Inference latency of the shipped models on this machine (after load), with load times.

    python benchmarks/inference_speed.py

Prints: model load time; 64 faces generated; one 512x512 photo inpainted and colorized;
a completion (4 samples) from the left eye; a batch folder of 1,000 64x64 faces inpainted
through the CLI (batched forward passes, files read and written).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genrestore.data.avatars import load_eval_faces
from genrestore.data.masks import keep_mask, mask_batch


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    t = time.perf_counter()
    import genrestore.tasks

    print(
        f"import genrestore.tasks (torch included): {time.perf_counter() - t:.2f} s, once per process"
    )
    rng = np.random.default_rng(0)
    photo = Image.fromarray(load_eval_faces(1, 64)[0]).resize((512, 512), Image.BICUBIC)
    hole = np.zeros((512, 512), bool)
    hole[150:350, 180:330] = True
    for name in ("faces-gan-64", "faces-vae-64", "faces-inpaint-64", "faces-colorize-64"):
        try:
            t = time.perf_counter()
            task = genrestore.load(name)
            load_s = time.perf_counter() - t
        except genrestore.UserError as exc:
            print(f"{name}: not available ({exc})")
            continue
        print(f"{name}: load {load_s:.3f} s")
        if task.family in ("gan", "vae"):
            task.generate(64, seed=0, size=task.size)
            print(
                f"  generate 64 faces: {best_of(lambda t=task: t.generate(64, seed=1, size=t.size)):.3f} s (target < 0.1)"
            )
            face = load_eval_faces(8, 64)[3]
            miss = keep_mask("left-eye", 64, 64)
            times = [
                best_of(lambda t=task, f=face, m=miss, s=s: t.complete(f, m, samples=4, seed=s), 1)
                for s in range(3)
            ]
            print(
                f"  complete from the left eye, 4 samples: {statistics.median(times):.2f} s (target < 3)"
            )
        elif task.family == "inpaint":
            task(photo, hole)
            print(
                f"  inpaint one 512x512 photo: {best_of(lambda t=task: t(photo, hole)):.3f} s (target < 0.15)"
            )
        else:
            task(photo)
            print(
                f"  colorize one 512x512 photo: {best_of(lambda t=task: t(photo)):.3f} s (target < 0.15)"
            )

    with tempfile.TemporaryDirectory() as tmp:
        src, msk, out = Path(tmp, "in"), Path(tmp, "mask"), Path(tmp, "out")
        src.mkdir(), msk.mkdir()
        faces = load_eval_faces(1000, 64)
        masks = mask_batch(1000, 64, 64, 3, "box")
        for i in range(1000):
            Image.fromarray(faces[i]).save(src / f"{i:04d}.png")
            Image.fromarray((masks[i] * 255).astype(np.uint8)).save(msk / f"{i:04d}.png")
        t = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "genrestore.cli",
                "inpaint",
                "--image",
                str(src),
                "--mask",
                str(msk),
                "--out",
                str(out),
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        dt = time.perf_counter() - t
        done = len(list(out.glob("*.png")))
        print(
            f"batch inpaint of 1,000 64x64 faces via the CLI: {dt:.1f} s, {done} written, exit {r.returncode} "
            "(target < 30 s)"
        )
    del rng


if __name__ == "__main__":
    main()
