"""fp32 vs bf16 vs the automatic choice, on this machine, for what a user runs.

    python benchmarks/precision_speed.py [--train-steps 5] [--rounds 5] [--repeat 3]

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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def inference_times(repeat: int, native: bool) -> dict[str, dict[str, tuple[float, bool]]]:
    """{row: {precision: (best seconds, scaled?)}} for generation and completion.

    The precisions take turns round by round, so drift on the machine hits each alike.
    Completion runs as a user gets it (the encoder where the model ships one); emulated
    bf16 is timed once, a long search on 2 of its steps and scaled.
    """
    face = load_eval_faces(4, 64, progress=False)[3]
    miss = keep_mask("left-eye", 64, 64)
    gens, comps, scale = {}, {}, {}
    for p in PRECISIONS:
        gens[p] = genrestore.load("faces-gan-64", precision=p)
        full = Completer(gens[p])
        emulated = p == "bf16" and not native
        comps[p] = Completer(gens[p], steps=2) if emulated and full.steps > 2 else full
        scale[p] = full.steps / comps[p].steps if comps[p] is not full else 1.0  # encoder: 0 steps
        gens[p].generate(64, seed=0, size=gens[p].size)  # warm-up
        comps[p](face, miss, samples=4, seed=0)
    gen_t: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    comp_t: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for r in range(repeat):
        for p in PRECISIONS:
            if p == "bf16" and not native and r > 0:
                continue
            gen_t[p].append(timed(lambda p=p: gens[p].generate(64, seed=1, size=gens[p].size)))
            comp_t[p].append(timed(lambda p=p: comps[p](face, miss, samples=4, seed=1)) * scale[p])
    method = comps["auto"].method
    return {
        "generate 64 faces (s)": {p: (min(v), False) for p, v in gen_t.items()},
        f"complete, left eye, 4 samples, {method} (s)": {
            p: (min(v), scale[p] != 1) for p, v in comp_t.items()
        },
    }


class TrainRunner:
    """The ``dcgan-64`` preset's full step (DiffAugment, EMA, data included) at a precision."""

    def __init__(self, precision: str, images: np.ndarray):
        from genrestore.config import PRESETS
        from genrestore.training import BatchSampler, build_recipe

        cfg = PRESETS["dcgan-64"]
        self.c = compute.choose("cpu", precision, "training")
        self.recipe = build_recipe(cfg, self.c)
        self.sampler = BatchSampler(images, cfg.batch, 0, True)
        self.batch, self.i = cfg.batch, 0
        self.step()  # warm-up

    def step(self) -> None:
        self.i += 1
        self.recipe.step(self.i, self.sampler.next(self.c.device, self.c.memory_format))

    def rate(self, steps: int) -> float:
        """img/s over ``steps`` steps."""
        t = time.perf_counter()
        for _ in range(steps):
            self.step()
        return self.batch * steps / (time.perf_counter() - t)


class ReferenceRunner(TrainRunner):
    """pytorch/examples DCGAN's fp32 step (``train_speed.Baseline``), timed the same way."""

    def __init__(self, images: np.ndarray):
        self.base = Baseline(torch.from_numpy(np.array(images)))
        self.batch = self.base.batch
        self.step()

    def step(self) -> None:
        self.base.step()


def train_rates(images: np.ndarray, steps: int, rounds: int, native: bool) -> dict[str, float]:
    """Median img/s per precision and of the reference, taking turns round by round."""
    runners = {p: TrainRunner(p, images) for p in PRECISIONS}
    runners["reference"] = ReferenceRunner(images)
    rates: dict[str, list[float]] = {p: [] for p in runners}
    for r in range(rounds):
        for p, runner in runners.items():
            if p == "bf16" and not native and r > 0:
                continue  # emulated: one round of one step says enough
            rates[p].append(runner.rate(1 if p == "bf16" and not native else steps))
    return {p: float(np.median(v)) for p, v in rates.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=5, help="timed training steps a round")
    ap.add_argument("--rounds", type=int, default=5, help="training rounds (median)")
    ap.add_argument("--repeat", type=int, default=5, help="inference rounds (best of)")
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

    rows = inference_times(args.repeat, native)
    print("  measured inference", flush=True)
    rates = train_rates(images, args.train_steps, args.rounds, native)
    rows["dcgan-64 training step (img/s)"] = {p: (rates[p], False) for p in PRECISIONS}
    ref = rates["reference"]

    print()
    print(f"{'':<36} {'fp32':>10} {'bf16':>10} {'auto':>10}   auto vs fastest")
    for name, vals in rows.items():
        higher_better = "img/s" in name
        cells = []
        for p in PRECISIONS:
            v, scaled = vals[p]
            cells.append(("~" if scaled else "") + (f"{v:.3f}" if v < 100 else f"{v:.1f}"))
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
    note = (
        f"inference: best of {args.repeat} rounds, warm; training: median of {args.rounds} rounds"
    )
    if not native:
        note += "; ~ = emulated bf16 timed on 2 of the search's steps and scaled"
    print(f"({note})")


if __name__ == "__main__":
    main()
