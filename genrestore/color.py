"""RGB <-> Lab for colorization, via kornia (no hand-written color science), scaled for networks.

L is scaled from [0, 100] to [-1, 1]; a and b are divided by 110 (their range is about
[-110, 110]), so both fit a tanh output.
"""

from __future__ import annotations

import torch


def rgb_to_lab_scaled(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (N, 3, H, W) in [-1, 1] -> (L (N, 1, H, W), ab (N, 2, H, W)), each scaled to ~[-1, 1]."""
    import kornia

    lab = kornia.color.rgb_to_lab(((rgb.float() + 1) / 2).clamp(0, 1))
    return lab[:, :1] / 50.0 - 1.0, lab[:, 1:] / 110.0


def lab_scaled_to_rgb(lum: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_lab_scaled``: -> RGB (N, 3, H, W) in [-1, 1]."""
    import kornia

    lab = torch.cat([(lum.float() + 1.0) * 50.0, ab.float() * 110.0], dim=1)
    return kornia.color.lab_to_rgb(lab).clamp(0, 1) * 2 - 1
