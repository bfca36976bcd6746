"""U-Net restorer: (optionally gated) conv encoder-decoder with skips and a dilated bottleneck.

Used for inpainting (in: damaged RGB + mask, out: RGB) and colorization (in: L, out: ab).
Gated convolutions (DeepFill v2) let each layer learn where the input is valid, which
plain convolutions over a hole filled with zeros cannot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedConv(nn.Module):
    """conv -> LeakyReLU(features) * sigmoid(gate). (N, C_in, H, W) -> (N, C_out, H', W')."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, k, stride, dilation * (k - 1) // 2, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.conv(x).chunk(2, dim=1)
        return F.leaky_relu(f, 0.2) * torch.sigmoid(g)


class PlainConv(nn.Module):
    """conv -> LeakyReLU. Same signature as GatedConv."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, dilation * (k - 1) // 2, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.2)


class ResBlock(nn.Module):
    def __init__(self, c: int, dilation: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, 1, dilation, dilation)
        self.b = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class UNet(nn.Module):
    """(N, in_ch, S, S) -> (N, out_ch, S, S) in [-1, 1]; S divisible by 2**depth."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        nf: int = 32,
        depth: int = 3,
        n_res: int = 3,
        gated: bool = True,
    ):
        super().__init__()
        Conv = GatedConv if gated else PlainConv
        chans = [nf * min(8, 2**i) for i in range(depth + 1)]
        self.stem = Conv(in_ch, chans[0], 5)
        self.down = nn.ModuleList(Conv(chans[i], chans[i + 1], 4, 2) for i in range(depth))
        self.mid = nn.Sequential(*[ResBlock(chans[-1], 2 ** (i % 3)) for i in range(n_res)])
        self.up = nn.ModuleList(
            Conv(chans[i + 1] + chans[i], chans[i]) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(chans[0], out_ch, 3, 1, 1)
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        skips = [h]
        for d in self.down:
            h = d(h)
            skips.append(h)
        h = self.mid(skips.pop())
        for u in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = u(torch.cat([h, skip], dim=1))
        return torch.tanh(self.head(h))


class InpaintUNet(nn.Module):
    """(image (N, 3, S, S) in [-1, 1], mask (N, 1, S, S), 1 = missing) -> (N, 3, S, S).

    Returns the raw prediction everywhere; callers composite it into the hole.
    """

    def __init__(self, cfg):
        super().__init__()
        self.net = UNet(4, 3, cfg.nf, cfg.depth, cfg.n_res, cfg.gated)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(image.dtype)
        return self.net(torch.cat([image * (1 - mask), mask], dim=1))


class ColorizeUNet(nn.Module):
    """L (N, 1, S, S) scaled to [-1, 1] -> ab (N, 2, S, S) scaled to [-1, 1] (ab / 110)."""

    def __init__(self, cfg):
        super().__init__()
        self.net = UNet(1, 2, cfg.nf, cfg.depth, cfg.n_res, cfg.gated)

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        return self.net(lum)
