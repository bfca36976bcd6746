"""fp32 vs bf16 vs the automatic choice, on this machine, for what a user runs.

    python benchmarks/precision_speed.py [--train-steps 6] [--repeat 3]

Prints the CPU (model, ISA level, native bf16), what ``precision="auto"`` chose for
inference and training, and for each of fp32, bf16 and auto: 64 faces generated with
``faces-gan-64`` (warm), a completion from the left eye (4 samples), and a ``dcgan-64``
training step, with the pytorch/examples DCGAN fp32 step (``train_speed.Baseline``) timed in
the same run as the reference. The last column is auto against the faster of fp32 and bf16
(1.00 = auto picked the fastest). Where bf16 is emulated (no AVX512_BF16/AMX), its rows are
measured on less work and scaled (marked ~): a full run would take many minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_speed import Baseline

import genrestore
from genrestore import compute
from genrestore.data.avatars import load_eval_faces, load_faces
from genrestore.data.masks import keep_mask
from genrestore.tasks import Completer

PRECISIONS = ("fp32", "bf16", "auto")


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def generation(precision: str, repeat: int) -> float:
    """Seconds for 64 faces (sampling + PIL), warm."""
    gen = genrestore.load("faces-gan-64", precision=precision)
    gen.generate(64, seed=0)
    return best_of(lambda: gen.generate(64, seed=1), repeat)


def completion(precision: str, repeat: int, scale_steps: int | None) -> float:
    """Seconds for one completion from the left eye, 4 samples (default search settings).

    With ``scale_steps``, only that many of the search's steps run and the time is scaled.
    """
    gen = genrestore.load("faces-gan-64", precision=precision)
    face = load_eval_faces(4, 64, progress=False)[3]
    miss = keep_mask("left-eye", 64, 64)
    full = Completer(gen).steps
    comp = Completer(gen, steps=scale_steps or full)
    comp(face, miss, samples=4, seed=0)  # warm-up
    t = best_of(lambda: comp(face, miss, samples=4, seed=1), repeat)
    return t * full / comp.steps


def train_step(precision: str, images: np.ndarray, steps: int) -> float:
    """img/s of the ``dcgan-64`` preset's full step (DiffAugment, EMA, data included)."""
    from genrestore.config import PRESETS
    from genrestore.training import BatchSampler, build_recipe

    cfg = PRESETS["dcgan-64"]
    c = compute.choose("cpu", precision, "training")
    recipe = build_recipe(cfg, c)
    sampler = BatchSampler(images, cfg.batch, 0, True)
    recipe.step(1, sampler.next(c.device, c.memory_format))  # warm-up
    t = time.perf_counter()
    for i in range(steps):
        recipe.step(i + 2, sampler.next(c.device, c.memory_format))
    return cfg.batch * steps / (time.perf_counter() - t)


def reference_step(images: np.ndarray, steps: int) -> float:
    runner = Baseline(torch.from_numpy(np.array(images)))
    runner.step()
    t = time.perf_counter()
    for _ in range(steps):
        runner.step()
    return runner.batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=6, help="timed training steps")
    ap.add_argument("--repeat", type=int, default=3, help="best of N for inference timings")
    args = ap.parse_args()

    f = compute.cpu_features()
    native = compute.native_bf16(f)
    print(
        f"CPU: {f['model']}; ISA {f['isa']}; native bf16 {'yes' if native else 'no'} "
        f"(avx512_bf16 {f['avx512_bf16']}, amx {f['amx']}); {torch.get_num_threads()} threads; "
        f"torch {torch.__version__}"
    )
    for w in compute.WORKLOADS:
        print(f"auto for {w}: {compute.choose('cpu', 'auto', w).describe()}")
    images = np.array(load_faces(1024, 64, progress=False))

    rows: dict[str, dict[str, tuple[float, bool]]] = {}  # row -> precision -> (value, scaled)
    for p in PRECISIONS:
        emulated = p == "bf16" and not native
        rows.setdefault("generate 64 faces (s)", {})[p] = (
            generation(p, 1 if emulated else args.repeat),
            False,
        )
        rows.setdefault("complete, left eye, 4 samples (s)", {})[p] = (
            completion(p, 1 if emulated else args.repeat, 2 if emulated else None),
            emulated,
        )
        rows.setdefault("dcgan-64 training step (img/s)", {})[p] = (
            train_step(p, images, 1 if emulated else args.train_steps),
            False,
        )
        print(f"  measured {p}", flush=True)
    ref = reference_step(images, args.train_steps)

    print()
    print(f"{'':<36} {'fp32':>10} {'bf16':>10} {'auto':>10}   auto vs fastest")
    for name, vals in rows.items():
        higher_better = "img/s" in name
        cells = []
        for p in PRECISIONS:
            v, scaled = vals[p]
            cells.append(f"{'~' if scaled else ''}{v:.3f}" if v < 100 else f"{v:.1f}")
        fixed = [vals["fp32"][0], vals["bf16"][0]]
        fastest = max(fixed) if higher_better else min(fixed)
        auto = vals["auto"][0]
        ratio = auto / fastest if higher_better else fastest / auto
        print(f"{name:<36} {cells[0]:>10} {cells[1]:>10} {cells[2]:>10}   {ratio:5.2f}x")
    auto_train = rows["dcgan-64 training step (img/s)"]["auto"][0]
    print(
        f"{'reference: pytorch/examples DCGAN step, fp32 (img/s)':<58} {ref:10.1f}   "
        f"dcgan-64 auto = {auto_train / ref:.2f}x the reference"
    )
    note = f"inference rows: best of {args.repeat} runs, warm"
    if not native:
        note += "; ~ = emulated bf16 timed on 2 of the 40 search steps and scaled"
    print(f"({note})")


if __name__ == "__main__":
    main()
