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


def lab_scaled_to_rgb(
    lum: torch.Tensor, ab: torch.Tensor, keep_luminance: bool = False
) -> torch.Tensor:
    """Inverse of ``rgb_to_lab_scaled``: -> RGB (N, 3, H, W) in [-1, 1].

    With ``keep_luminance``, colors outside the sRGB gamut are desaturated (a/b shrunk per
    pixel) until they fit, instead of clipping RGB, which would change their lightness.
    """
    import kornia

    lum = (lum.float() + 1.0) * 50.0
    ab = ab.float() * 110.0
    lab = torch.cat([lum, ab], dim=1)
    if not keep_luminance:
        return kornia.color.lab_to_rgb(lab).clamp(0, 1) * 2 - 1
    rgb = kornia.color.lab_to_rgb(lab, clip=False)
    outside = ((rgb < -1e-4) | (rgb > 1 + 1e-4)).any(dim=1)  # (N, H, W)
    if outside.any():
        # Shrink a/b of just those pixels (as a (3, K, 1) "image") until they fit the gamut.
        px = lab.permute(1, 0, 2, 3)[:, outside].unsqueeze(-1)
        scale = torch.ones_like(px[:1])
        for _ in range(16):
            fixed = kornia.color.lab_to_rgb(torch.cat([px[:1], px[1:] * scale]), clip=False)
            bad = ((fixed < -1e-4) | (fixed > 1 + 1e-4)).any(dim=0, keepdim=True)
            if not bad.any():
                break
            scale = torch.where(bad, scale * 0.75, scale)
        rgb = rgb.permute(1, 0, 2, 3).clone()
        rgb[:, outside] = fixed.squeeze(-1)
        rgb = rgb.permute(1, 0, 2, 3)
    return rgb.clamp(0, 1) * 2 - 1
