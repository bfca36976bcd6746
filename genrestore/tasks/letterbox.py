"""Any input size outside, the model's square size inside: letterbox in, crop and resize out."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def letterbox_box(w: int, h: int, size: int) -> tuple[int, int, int, int]:
    """Where a w x h image lands inside a size x size square: (x0, y0, w', h')."""
    scale = size / max(w, h)
    w2, h2 = max(1, round(w * scale)), max(1, round(h * scale))
    return (size - w2) // 2, (size - h2) // 2, w2, h2


def letterbox(arr: np.ndarray, size: int, resample: int) -> np.ndarray:
    """uint8 (H, W[, C]) -> (size, size[, C]): aspect kept, edges replicated into the pad."""
    h, w = arr.shape[:2]
    x0, y0, w2, h2 = letterbox_box(w, h, size)
    small = np.asarray(Image.fromarray(arr).resize((w2, h2), resample))
    pad = [(y0, size - h2 - y0), (x0, size - w2 - x0)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(small, pad, mode="edge")


def mask_to_model(missing: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W) -> bool (size, size): a model pixel is missing if any part of it is."""
    h, w = missing.shape
    x0, y0, w2, h2 = letterbox_box(w, h, size)
    frac = Image.fromarray(missing.astype(np.float32)).resize((w2, h2), Image.BOX)
    out = np.zeros((size, size), dtype=bool)
    out[y0 : y0 + h2, x0 : x0 + w2] = np.asarray(frac) > 1e-3
    return out


def from_model(t: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """(C, S, S) model output -> (C, h, w): crop the letterbox and resize to the input size."""
    size = t.shape[-1]
    x0, y0, w2, h2 = letterbox_box(w, h, size)
    crop = t[None, :, y0 : y0 + h2, x0 : x0 + w2].float()
    down = h < h2 or w < w2
    return torch.nn.functional.interpolate(
        crop,
        size=(h, w),
        mode="bilinear" if down else "bicubic",
        align_corners=False,
        antialias=down,
    )[0]
