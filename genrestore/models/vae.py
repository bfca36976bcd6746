"""Convolutional VAE: encoder image -> (mu, logvar), decoder z -> image; sized from the config."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..families.vae import VAEConfig


def _mult(size: int, res: int) -> int:
    return min(8, max(1, size // (2 * res)))


def _block(c_in: int, c_out: int, up: bool) -> nn.Sequential:
    conv = (nn.ConvTranspose2d if up else nn.Conv2d)(c_in, c_out, 4, 2, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))


class Encoder(nn.Module):
    """image (N, 3, size, size) -> (mu, logvar), each (N, nz)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        n = int(math.log2(cfg.size))
        layers, c, res = [], 3, cfg.size
        for _ in range(n - 2):
            res //= 2
            c_out = cfg.nf * _mult(cfg.size, res)
            layers.append(_block(c, c_out, up=False))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c * 16, 2 * cfg.nz)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.features(x).flatten(1))
        mu, logvar = h.float().chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)


class Decoder(nn.Module):
    """z (N, nz) -> image (N, 3, size, size) in [-1, 1]."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        n = int(math.log2(cfg.size))
        self.nz = cfg.nz
        self.c0 = cfg.nf * _mult(cfg.size, 4)
        self.fc = nn.Linear(cfg.nz, self.c0 * 16)
        layers, c, res = [], self.c0, 4
        for _ in range(n - 3):
            res *= 2
            c_out = cfg.nf * _mult(cfg.size, res)
            layers.append(_block(c, c_out, up=True))
            c = c_out
        layers += [nn.ConvTranspose2d(c, 3, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(z)).view(z.shape[0], self.c0, 4, 4)
        return self.main(h)


class VAE(nn.Module):
    """Encoder + decoder; ``forward`` returns (reconstruction, mu, logvar)."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        if int(math.log2(cfg.size)) != math.log2(cfg.size) or not 16 <= cfg.size <= 256:
            raise ValueError(f"size must be a power of two in [16, 256], got {cfg.size}")
        self.nz = cfg.nz
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, x: torch.Tensor):
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar
