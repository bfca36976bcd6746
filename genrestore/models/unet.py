"""U-Net restorer: (optionally gated) conv encoder-decoder with skips and a dilated bottleneck.

Used for inpainting (in: damaged RGB + mask, out: RGB) and colorization (in: L, out: ab).
Gated convolutions (DeepFill v2) let each layer learn where the input is valid, which
plain convolutions over a hole filled with zeros cannot.

``native`` models are fully convolutional and run at the image's own size (any H, W: the
input is padded to a multiple of 2**depth and the output cropped back). A native inpainter
gets the hole pre-filled with a guess (the smooth ``pull_push`` fill, plus at the finer
pyramid levels the correction that the network made to it one level down, upsampled) and
predicts a correction of that guess (zero before training, so an untrained model is
pull-push), so the same network serves every level of a coarse-to-fine
pyramid (tasks/restore.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .fill import pull_push


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


def prefilled(
    image: torch.Tensor, mask: torch.Tensor, guess: torch.Tensor | None = None
) -> torch.Tensor:
    """``image`` (N, 3, H, W) with its hole (mask (N, 1, H, W), 1 = missing, image's dtype)
    replaced by ``guess`` (default: the ``pull_push`` fill)."""
    if guess is None:
        guess = pull_push(image, 1 - mask)
    return image * (1 - mask) + guess.to(image.dtype) * mask


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (N, C, H, W) at the bottom/right to multiples of ``m``; returns (x, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class UNet(nn.Module):
    """(N, in_ch, S, S) -> (N, out_ch, S, S) in [-1, 1]; S divisible by 2**depth.

    With ``tanh=False`` the head's raw output is returned (a correction to add to something).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        nf: int = 32,
        depth: int = 3,
        n_res: int = 3,
        gated: bool = True,
        tanh: bool = True,
    ):
        super().__init__()
        self.tanh = tanh
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
        out = self.head(h)
        return torch.tanh(out) if self.tanh else out


class InpaintUNet(nn.Module):
    """(image (N, 3, H, W) in [-1, 1], mask (N, 1, H, W), 1 = missing) -> (N, 3, H, W).

    Returns the raw prediction everywhere; callers composite it into the hole. At a fixed
    size (H = W = cfg.size) the hole is zeroed. A ``native`` model takes any H, W and an
    optional ``guess`` (N, 3, H, W) for the hole (default: ``pull_push``), and returns the
    guess plus a learned correction.
    """

    def __init__(self, cfg):
        super().__init__()
        self.native = cfg.native
        self.net = UNet(4, 3, cfg.nf, cfg.depth, cfg.n_res, cfg.gated, tanh=not self.native)
        self.multiple = 2**cfg.depth
        if self.native:  # an untrained native model returns its guess: training starts there
            nn.init.zeros_(self.net.head.weight)
            nn.init.zeros_(self.net.head.bias)

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, guess: torch.Tensor | None = None
    ) -> torch.Tensor:
        mask = mask.to(image.dtype)
        if not self.native:
            return self.net(torch.cat([image * (1 - mask), mask], dim=1))
        x = prefilled(image, mask, guess)
        padded, (h, w) = pad_to_multiple(torch.cat([x, mask], dim=1), self.multiple)
        return x + self.net(padded)[..., :h, :w]


class SmoothFill(nn.Module):
    """A native inpainter with no weights: it returns its guess (``pull_push`` in the hole).

    Run by the same coarse-to-fine pipeline as a trained native model, it is the classical
    "pull-push" method that a trained model's correction starts from (an untrained
    ``InpaintUNet`` with ``native`` gives exactly the same output).
    """

    def forward(
        self, image: torch.Tensor, mask: torch.Tensor, guess: torch.Tensor | None = None
    ) -> torch.Tensor:
        return prefilled(image, mask.to(image.dtype), guess)


class ColorizeUNet(nn.Module):
    """L (N, 1, H, W) scaled to [-1, 1] -> ab (N, 2, H, W) scaled to [-1, 1] (ab / 110).

    H = W = cfg.size, or any H, W for a ``native`` model (padded inside, cropped back).
    """

    def __init__(self, cfg):
        super().__init__()
        self.net = UNet(1, 2, cfg.nf, cfg.depth, cfg.n_res, cfg.gated)
        self.multiple = 2**cfg.depth if cfg.native else 1

    def forward(self, lum: torch.Tensor) -> torch.Tensor:
        if self.multiple == 1:
            return self.net(lum)
        padded, (h, w) = pad_to_multiple(lum, self.multiple)
        return self.net(padded)[..., :h, :w]
