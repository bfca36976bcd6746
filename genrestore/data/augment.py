"""DiffAugment (Zhao et al. 2020): differentiable augmentation for real and fake alike.

Every random draw comes from an explicit CPU ``torch.Generator`` so training is
reproducible and its augmentation state can be saved and resumed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(n: int, g: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=g).to(device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random brightness, saturation and contrast per image. (N, 3, H, W) -> same."""
    n = x.shape[0]
    x = x + (_rand(n, g, x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(n, g, x) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(n, g, x) + 0.5) + mean


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), generator=g).to(x.device)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), generator=g).to(x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(n, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[gb, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of side ``ratio`` * size per image."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=g).to(x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=g).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = oy - ch // 2, ox - cw // 2
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: str, g: torch.Generator) -> torch.Tensor:
    """Apply the comma-separated ``policy`` (e.g. "translation,cutout,color") in order.

    The result keeps the input's memory layout (channels_last in, channels_last out).
    """
    channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
    for name in filter(None, (p.strip() for p in policy.split(","))):
        if name not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {name!r}; known: {', '.join(POLICIES)}")
        x = POLICIES[name](x, g)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()
