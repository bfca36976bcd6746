"""DCGAN-family generator and discriminator, sized from the config (16..256 px).

At 64 px with ``nz=100, ngf=ndf=64, d_norm="batch"`` the layer shapes equal
pytorch/examples DCGAN; ``d_norm="spectral"`` swaps the discriminator's batch norm for
spectral normalization (used with the hinge loss). ``g_upsample="resize"`` draws each
doubling of the generator as a nearest-neighbour upsample and a 3x3 convolution instead of
a stride-2 transposed convolution, which cannot draw the checkerboard a transposed one's
uneven overlap leaves (Odena et al. 2016, "Deconvolution and checkerboard artifacts").
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..families.gan import GANConfig


def _mult(size: int, res: int) -> int:
    """Channel multiplier at feature resolution ``res``: 1 at size/2, doubling down to 8x."""
    return min(8, max(1, size // (2 * res)))


def _check_size(size: int) -> int:
    n = int(math.log2(size))
    if 2**n != size or not 16 <= size <= 256:
        raise ValueError(f"size must be a power of two in [16, 256], got {size}")
    return n


def _doubling(c_in: int, c_out: int, how: str) -> list[nn.Module]:
    """Bias-free layers that double the side: a stride-2 transposed conv, or upsample + 3x3."""
    if how == "transposed":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
    return [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
    ]


class GANGenerator(nn.Module):
    """z (N, nz) -> image (N, 3, size, size) in [-1, 1]."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        n = _check_size(cfg.size)
        self.nz = cfg.nz
        c = cfg.ngf * _mult(cfg.size, 4)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(cfg.nz, c, 4, 1, 0, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(True),
        ]
        res = 4
        for _ in range(n - 3):
            res *= 2
            c_out = cfg.ngf * _mult(cfg.size, res)
            layers += [
                *_doubling(c, c_out, cfg.g_upsample),
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
            c = c_out
        layers += [*_doubling(c, 3, cfg.g_upsample), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.nz, 1, 1))


class GANDiscriminator(nn.Module):
    """image (N, 3, size, size) in [-1, 1] -> logits (N,)."""

    def __init__(self, cfg: GANConfig):
        super().__init__()
        n = _check_size(cfg.size)
        sn = cfg.d_norm == "spectral"
        if cfg.d_norm not in ("batch", "spectral"):
            raise ValueError(f"d_norm must be 'batch' or 'spectral', got {cfg.d_norm!r}")
        wrap = nn.utils.spectral_norm if sn else (lambda m: m)
        res = cfg.size // 2
        c = cfg.ndf * _mult(cfg.size, res)
        layers: list[nn.Module] = [wrap(nn.Conv2d(3, c, 4, 2, 1, bias=sn)), nn.LeakyReLU(0.2, True)]
        for _ in range(n - 3):
            res //= 2
            c_out = cfg.ndf * _mult(cfg.size, res)
            layers.append(wrap(nn.Conv2d(c, c_out, 4, 2, 1, bias=sn)))
            if not sn:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c = c_out
        layers.append(wrap(nn.Conv2d(c, 1, 4, 1, 0, bias=sn)))
        self.main = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def _dcgan_init(m: nn.Module) -> None:
    """Weights from N(0, 0.02), BN scale from N(1, 0.02) (the DCGAN paper's init)."""
    name = type(m).__name__
    if "Conv" in name:
        w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
        nn.init.normal_(w, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
