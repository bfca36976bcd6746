"""Completion encoder: visible pixels + mask -> a Gaussian over the generator's latents."""

from __future__ import annotations

import math

import torch
from torch import nn


class CompletionEncoder(nn.Module):
    """(image * known, known) (N, 4, S, S) -> (mu, logvar), each (N, nz).

    An amortized posterior q(z | visible pixels) of a frozen generator: sampling
    ``mu + exp(logvar / 2) * eps`` gives latents whose faces agree with what is visible and
    differ where it is hidden. Plain convolutions with GroupNorm (no batch statistics, so a
    single image encodes like a batch).
    """

    def __init__(self, cfg):
        super().__init__()
        n = int(math.log2(cfg.size))
        if 2**n != cfg.size or not 16 <= cfg.size <= 256:
            raise ValueError(f"size must be a power of two in [16, 256], got {cfg.size}")
        layers: list[nn.Module] = []
        c, c_out = 4, cfg.nf
        for _ in range(n - 2):  # stride-2 convolutions down to 4x4 (none at full resolution:
            # one there made a training step 4x slower on a 2-core CPU)
            layers += [
                nn.Conv2d(c, c_out, 4, 2, 1),
                nn.GroupNorm(8, c_out),
                nn.LeakyReLU(0.2, True),
            ]
            c, c_out = c_out, min(c_out * 2, cfg.nf * 8)
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * 16, 512),
            nn.LeakyReLU(0.2, True),
            nn.Linear(512, 2 * cfg.nz),
        )
        self.nz = cfg.nz

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.features(x)).float().chunk(2, dim=1)
        return mu, logvar.clamp(-12, 4)
