"""Training throughput and generation latency on one device (the GPU path, or this CPU).

    python benchmarks/device_speed.py [--device cuda] [--steps 50] [--precision auto]

The script to run where a GPU is lent: the same `genrestore.training` recipes that the
CPU tests run (AMP: bf16 where the GPU supports it, else fp16 with a GradScaler;
channels_last; cudnn.benchmark; fused Adam), timed with the device synchronised. Prints
img/s for the pytorch/examples DCGAN step (fp32 baseline, 64 px), `dcgan-64` and `gan-64`
at 64 px and 128 px, and `gan-128`; then the shipped `faces-gan-64`'s latency for 1 and
64 faces. Every number comes from the same run, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import Baseline  # the baseline step, shared with train_speed


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(step, batch: int, steps: int, device: torch.device) -> float:
    for _ in range(5):  # warm-up: cudnn.benchmark picks its kernels here
        step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return batch * steps / (time.perf_counter() - t)


def ours(preset: str, size: int, device: torch.device, precision: str, faces: dict):
    from genrestore.compute import choose
    from genrestore.config import PRESETS, with_size
    from genrestore.training import BatchSampler, build_recipe

    cfg = with_size(PRESETS[preset], size)
    compute = choose(device, precision, "training")
    recipe = build_recipe(cfg, compute)
    sampler = BatchSampler(faces[size], cfg.batch, 0, True)
    counter = iter(range(1, 10**9))
    return (
        lambda: recipe.step(next(counter), sampler.next(device, compute.memory_format))
    ), cfg.batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=50, help="timed steps per configuration")
    ap.add_argument("--precision", default="auto", help="auto, bf16, fp16 or fp32")
    args = ap.parse_args()

    from genrestore.compute import choose, resolve_device
    from genrestore.data.avatars import load_faces

    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    compute = choose(device, args.precision, "training")
    print(f"{name}; torch {torch.__version__}; {compute.describe()}; {args.steps} timed steps each")
    faces = {s: np.array(load_faces(2048, s, progress=False)) for s in (64, 128)}

    rows = [("baseline: pytorch/examples DCGAN step, fp32, 64 px", None, 64)]
    rows += [(f"genrestore {p} at {s} px", p, s) for p, s in
             [("dcgan-64", 64), ("gan-64", 64), ("dcgan-64", 128), ("gan-64", 128), ("gan-128", 128)]]  # fmt: skip
    base = None
    for label, preset, size in rows:
        if preset is None:
            runner = Baseline(torch.from_numpy(faces[64]), 64, str(device))
            step, batch = runner.step, 64
        else:
            step, batch = ours(preset, size, device, args.precision, faces)
        ips = throughput(step, batch, args.steps, device)
        base = base or ips
        print(f"  {label:<52} {ips:9.1f} img/s   {ips / base:5.2f}x baseline")
        del step
        if device.type == "cuda":
            torch.cuda.empty_cache()

    import genrestore

    t = time.perf_counter()
    gen = genrestore.load("faces-gan-64", device=str(device))
    print(f"load faces-gan-64: {time.perf_counter() - t:.3f} s")
    for n in (1, 64):
        gen.generate(n, seed=0, size=gen.size)  # warm-up
        times = []
        for seed in range(10):
            sync(device)
            t = time.perf_counter()
            gen.generate(n, seed=seed, size=gen.size)  # sampling + conversion to PIL images
            sync(device)
            times.append(time.perf_counter() - t)
        print(f"generate {n:>2} faces (to PIL): median {1000 * float(np.median(times)):.2f} ms")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
