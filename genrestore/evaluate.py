"""Evaluation on held-out data: what ``genrestore eval`` prints, as plain dicts."""

from __future__ import annotations

import time

import numpy as np

from .images import uint8_to_tensor
from .metrics import swd
from .tasks import latents


def held_out_images(n: int, size: int, data: str = "avatars", offset: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 3) held-out images: built-in faces from index 1,000,000 + offset."""
    if data == "avatars":
        from .data.avatars import load_eval_faces

        return load_eval_faces(offset + n, size, progress=False)[offset : offset + n]
    from .data.folder import load_folder
    from .errors import UserError

    imgs = load_folder(data, size, progress=False).images
    if len(imgs) < offset + n:
        raise UserError(f"{data}: has {len(imgs)} usable images, {offset + n} are needed")
    return imgs[offset : offset + n]


def evaluate_generator(gen, n: int = 256, *, data: str = "avatars", seed: int = 0) -> dict:
    """SWD of ``n`` samples vs ``n`` held-out images, and the real-vs-real floor at that count."""
    real = held_out_images(2 * n, gen.size, data)
    real_a, real_b = uint8_to_tensor(real[:n]), uint8_to_tensor(real[n:])
    t0 = time.perf_counter()
    fake = gen.sample(latents(n, gen.nz, seed, 1.0))
    dt = time.perf_counter() - t0
    s = swd(fake, real_a, seed=seed)
    floor = swd(real_b, real_a, seed=seed)
    return {
        "model": gen.name,
        "family": gen.family,
        "n": n,
        "swd": s["mean"],
        "swd_levels": s["levels"],
        "swd_floor": floor["mean"],
        "swd_ratio": round(s["mean"] / floor["mean"], 2),
        "sample_seconds": round(dt, 3),
    }
