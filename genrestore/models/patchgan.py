"""PatchGAN discriminator (pix2pix) with spectral norm; returns logits and features."""

from __future__ import annotations

import torch
from torch import nn

sn = nn.utils.spectral_norm


class PatchGAN(nn.Module):
    """(N, C, S, S) -> (logits (N, 1, S/8-ish, S/8-ish), [intermediate features])."""

    def __init__(self, in_ch: int, ndf: int = 32, layers: int = 3):
        super().__init__()
        blocks, c = [], in_ch
        for i in range(layers):
            c_out = ndf * min(8, 2**i)
            blocks.append(nn.Sequential(sn(nn.Conv2d(c, c_out, 4, 2, 1)), nn.LeakyReLU(0.2, True)))
            c = c_out
        blocks.append(nn.Sequential(sn(nn.Conv2d(c, c, 3, 1, 1)), nn.LeakyReLU(0.2, True)))
        self.blocks = nn.ModuleList(blocks)
        self.head = sn(nn.Conv2d(c, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.head(x), feats
