"""SWD of generated faces at 256 px on validation draws, per pyramid level, beside baselines.

    python benchmarks/generation_validation.py [--generator faces-gan-64] [--upscaler NAME]
        [--core 0.015] [--truncation 1] [--draws 6] [--n 256]

The validation protocol of the README's 256-px generation choices (`core`, and the tries
that did not help), kept off the test draw (`genrestore eval gan --size 256`: z seeds 0..,
the held-out faces from 1,000,000). Draw k samples ``n`` faces with z seed 2 + k, upscales
them to 256 px and compares them with ``n`` held-out faces from 1,001,000 + n * (k % 3).
Beside each draw, the same faces' baselines:

- ``real up``: other held-out faces (1,001,000 + n * ((k + 1) % 3) on) rendered at the
  generator's size and upscaled the same way: what a perfect generator would score;
- ``real``: those other faces rendered at 256 px: the floor of the measure at this n.

It prints each draw, then the per-level means (finest first) of the three rows and the
generated faces' ratio to each baseline. ``--core`` overrides the upscaler's ``core`` (0: off),
``--truncation`` the generator's.
On an AMX Xeon (2 threads) the six default draws take about 3 minutes; the 3 n faces are
rendered once at each size and cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from genrestore import load
from genrestore.evaluate import held_out_images
from genrestore.images import uint8_to_tensor
from genrestore.metrics import swd
from genrestore.tasks.generate import latents

VALIDATION_OFFSET = 1000  # held-out faces before this are the test faces
SIDE = 256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", default="faces-gan-64")
    ap.add_argument("--upscaler", default=None, help="default: the generator's own")
    ap.add_argument("--core", type=float, default=None, help="override the upscaler's core")
    ap.add_argument("--truncation", type=float, default=None, help="default: the model's")
    ap.add_argument("--draws", type=int, default=6)
    ap.add_argument("--n", type=int, default=256)
    args = ap.parse_args()

    gen = load(args.generator)
    up = load(args.upscaler) if args.upscaler else gen.upscaler
    if up is None:
        raise SystemExit(f"{args.generator}: no upscaler to {SIDE} px; pass --upscaler")
    if args.core is not None:
        up.config = dataclasses.replace(up.config, core=args.core)
    gen.upscaler = up  # what at_size draws with
    n, sets = args.n, min(3, args.draws)
    big = held_out_images(n * sets, SIDE, offset=VALIDATION_OFFSET)
    small = held_out_images(n * sets, gen.size, offset=VALIDATION_OFFSET)

    def upscale(x: torch.Tensor) -> torch.Tensor:
        return gen.at_size(x, SIDE).clamp(-1, 1)

    rows: dict[str, list[list[float]]] = {"generated": [], "real up": [], "real": []}
    baselines: dict[int, dict[str, list[float]]] = {}  # per reference set: the same faces
    t0 = time.perf_counter()
    for k in range(args.draws):
        ref, other = k % sets, (k + 1) % sets
        target = uint8_to_tensor(big[n * ref : n * (ref + 1)])
        if ref not in baselines:
            real_up = upscale(uint8_to_tensor(small[n * other : n * (other + 1)]))
            real = uint8_to_tensor(big[n * other : n * (other + 1)])
            baselines[ref] = {
                "real up": swd(real_up, target, seed=0)["levels"],
                "real": swd(real, target, seed=0)["levels"],
            }
        fake = upscale(gen.sample(latents(n, gen.nz, 2 + k, gen.truncation(args.truncation))))
        scores = {"generated": swd(fake, target, seed=0)["levels"], **baselines[ref]}
        for name, levels in scores.items():
            rows[name].append(levels)
        print(
            f"draw {k} (z seed {2 + k}, faces {1_000_000 + VALIDATION_OFFSET + n * ref}+): "
            + "  ".join(f"{name} {np.mean(lv):.2f}" for name, lv in scores.items()),
            flush=True,
        )
    means = {name: np.mean(r, 0) for name, r in rows.items()}
    print(
        f"\nmeans over {args.draws} draws of {n} ({time.perf_counter() - t0:.0f} s), "
        f"upscaler core {up.config.core}; levels {SIDE} px first:"
    )
    for name, lv in means.items():
        print(f"  {name:<10} {lv.mean():6.2f}   " + " / ".join(f"{v:.2f}" for v in lv))
    g = means["generated"]
    for name in ("real up", "real"):
        b = means[name]
        print(
            f"  generated / {name}: {g.mean() / b.mean():.3f}   "
            + " / ".join(f"{x:.2f}" for x in g / b)
        )


if __name__ == "__main__":
    main()
