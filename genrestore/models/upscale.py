"""Upscaler: a small residual CNN that adds to bicubic upscaling the detail it lost.

The built-in faces are vector drawings, so what a 64-px face model draws has a sharp
counterpart at any size; this network learns that mapping (ESPCN-style: every convolution
runs at the low resolution, a pixel shuffle makes the high-resolution residual).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UpscaleNet(nn.Module):
    """(N, 3, h, w) in [-1, 1] -> (N, 3, factor * h, factor * w), about [-1, 1].

    bicubic(x) + pixel_shuffle(residual(x)); the last convolution starts at zero, so an
    untrained network is bicubic upscaling. Any h, w (fully convolutional).

    ``cfg.guided``: forward(x, image, known) also takes the large image (N, 3, fh, fw) and
    its known pixels (N, 1, fh, fw) in {0, 1}; both are pixel-unshuffled to (h, w) and
    enter the first convolution beside x.
    """

    def __init__(self, cfg):
        super().__init__()
        nf, self.factor = cfg.nf, cfg.factor
        self.guided = bool(getattr(cfg, "guided", False))
        extra = 4 * self.factor**2 if self.guided else 0
        self.head = nn.Conv2d(3 + extra, nf, 3, padding=1)
        self.body = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(nf, nf, 3, padding=1), nn.ReLU(), nn.Conv2d(nf, nf, 3, padding=1)
            )
            for _ in range(cfg.n_blocks)
        )
        self.tail = nn.Conv2d(nf, 3 * self.factor**2, 3, padding=1)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def forward(
        self, x: torch.Tensor, image: torch.Tensor | None = None, known: torch.Tensor | None = None
    ) -> torch.Tensor:
        inp = x
        if self.guided:
            known = known.to(x.dtype)
            hi = F.pixel_unshuffle(torch.cat([image * known, known], 1), self.factor)
            inp = torch.cat([x, hi], 1)
        h = F.relu(self.head(inp))
        for block in self.body:
            h = h + block(h)
        up = F.interpolate(x, scale_factor=self.factor, mode="bicubic", align_corners=False)
        return up + F.pixel_shuffle(self.tail(h), self.factor)
