"""Training speed: pytorch/examples DCGAN's step (the baseline) vs genrestore's presets.

The baseline is a re-implementation of pytorch/examples/dcgan's training step: fp32,
Sigmoid + BCELoss, Adam(2e-4, betas=(0.5, 0.999)), batch 64 at 64x64, one fake batch used
for the D and G updates. genrestore's steps include everything a real run does: batches
from the face cache (uint8 -> float, flips), DiffAugment on real and fake, EMA of G.
Both are timed in the same process, alternating, after warm-up. Prints img/s and ratios.

    python benchmarks/train_speed.py [--steps 20] [--presets dcgan-64 gan-64]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn


class BaselineG(nn.Module):
    def __init__(self, nz=100, ngf=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z):
        return self.main(z)


class BaselineD(nn.Module):
    def __init__(self, ndf=64):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        return self.main(x).view(-1, 1).squeeze(1)


class Baseline:
    """pytorch/examples/dcgan main.py's inner loop, unchanged in substance."""

    def __init__(self, images: torch.Tensor, batch: int = 64, device: str = "cpu"):
        torch.manual_seed(0)
        self.images, self.batch, self.device = images, batch, torch.device(device)
        self.G, self.D = BaselineG().to(self.device), BaselineD().to(self.device)
        self.crit = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(self):
        idx = torch.randint(0, self.images.shape[0], (self.batch,))
        real = self.images[idx].to(self.device).permute(0, 3, 1, 2).float().div(127.5).sub(1)
        b = real.shape[0]
        self.D.zero_grad()
        label = torch.full((b,), 1.0, device=self.device)
        err_real = self.crit(self.D(real), label)
        err_real.backward()
        fake = self.G(torch.randn(b, 100, 1, 1, device=self.device))
        label.fill_(0.0)
        err_fake = self.crit(self.D(fake.detach()), label)
        err_fake.backward()
        self.opt_d.step()
        self.G.zero_grad()
        label.fill_(1.0)
        err_g = self.crit(self.D(fake), label)
        err_g.backward()
        self.opt_g.step()


class Ours:
    def __init__(self, preset: str, images: torch.Tensor, precision: str = "auto"):
        from genrestore.compute import choose
        from genrestore.config import PRESETS
        from genrestore.training import BatchSampler, build_recipe

        cfg = PRESETS[preset]
        self.compute = choose("cpu", precision, "training")
        self.recipe = build_recipe(cfg, self.compute)
        self.sampler = BatchSampler(images, cfg.batch, 0, True)
        self.batch, self.i = cfg.batch, 0

    def step(self):
        self.i += 1
        self.recipe.step(self.i, self.sampler.next(self.compute.device, self.compute.memory_format))


def timed(runner, steps: int) -> float:
    t = time.perf_counter()
    for _ in range(steps):
        runner.step()
    return runner.batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--presets", nargs="+", default=["dcgan-64", "gan-64"])
    args = ap.parse_args()

    from genrestore.data.avatars import load_faces

    images = torch.from_numpy(np.array(load_faces(2048, 64)))
    runners = {"baseline (pytorch/examples dcgan, fp32)": Baseline(images)}
    runners.update({f"genrestore {p}": Ours(p, images) for p in args.presets})
    for r in runners.values():  # warm-up
        for _ in range(3):
            r.step()
    rates: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(args.rounds):
        for k, r in runners.items():
            rates[k].append(timed(r, args.steps))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 64, 64x64, "
        f"{args.rounds} rounds x {args.steps} steps (median img/s)"
    )
    base = float(np.median(rates[next(iter(runners))]))
    for k, v in rates.items():
        med = float(np.median(v))
        print(f"{k:<42} {med:8.1f} img/s   {med / base:5.2f}x baseline")


if __name__ == "__main__":
    main()
