"""Completion from a small visible region by searching a generator's latent space."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..images import uint8_to_tensor
from .base import composite, finite, open_image_and_mask
from .generate import Generator, latents
from .letterbox import from_model, letterbox, letterbox_box, mask_to_model


class Completer:
    """Draws whole faces around a small visible region by searching the generator's latents.

    Batched restarts of Adam on z minimise the reconstruction error on the known pixels plus
    a Gaussian prior on z; the best-fitting restarts are returned, each composited so the
    known pixels are kept exactly. Seeded and reproducible.
    """

    def __init__(
        self,
        gen: Generator,
        *,
        steps: int = 40,
        restarts_per_sample: int = 4,
        lr: float = 0.1,
        prior_weight: float = 0.05,
    ):
        self.gen, self.steps, self.rps, self.lr, self.prior_weight = (
            gen,
            steps,
            restarts_per_sample,
            lr,
            prior_weight,
        )

    def fit(self, x: torch.Tensor, known: torch.Tensor, restarts: int, seed: int):
        """Search latents. x (3, S, S) in [-1, 1], known (1, S, S) -> (images (R, 3, S, S), loss (R,))."""
        net = self.gen.forward  # BN folded, the machine's precision and layout
        z = latents(restarts, self.gen.nz, seed).to(self.gen.device).requires_grad_(True)
        x = x[None].to(self.gen.device)
        known = known[None].to(self.gen.device)
        denom = known.sum().clamp_min(1.0) * 3
        opt = torch.optim.Adam([z], lr=self.lr)
        for _ in range(self.steps):
            opt.zero_grad(set_to_none=True)
            pred = net(z)
            diff = (pred - x) * known
            rec = diff.pow(2).flatten(1).sum(1) / denom + diff.abs().flatten(1).sum(1) / denom
            prior = z.pow(2).mean(1)
            (rec + self.prior_weight * prior).sum().backward()
            opt.step()
        with torch.no_grad():
            pred = finite(net(z))
            diff = (pred - x) * known
            loss = diff.pow(2).flatten(1).sum(1) / denom
        return pred.cpu(), loss.cpu()

    def __call__(self, image, mask=None, *, samples: int = 4, seed: int = 0) -> list[Image.Image]:
        if not 1 <= samples <= 64:
            raise UserError(f"samples must be between 1 and 64, got {samples}")
        arr, missing = open_image_and_mask(image, mask, regions=True)
        return self.complete_prepared(arr, missing, samples, seed)[0]

    def complete_prepared(
        self, arr: np.ndarray, missing: np.ndarray, samples: int, seed: int
    ) -> tuple[list[Image.Image], torch.Tensor]:
        """uint8 (H, W, 3) + bool (H, W) -> (completions best first, their fit MSE on known pixels)."""
        s = self.gen.size
        x = uint8_to_tensor(letterbox(arr, s, Image.BICUBIC)[None])[0]
        known = torch.from_numpy(~mask_to_model(missing, s))[None].float()
        # A region outside the letterbox is padding, not a known pixel.
        h, w = missing.shape
        x0, y0, w2, h2 = letterbox_box(w, h, s)
        inside = torch.zeros_like(known)
        inside[:, y0 : y0 + h2, x0 : x0 + w2] = 1
        known = known * inside
        pred, loss = self.fit(x, known, samples * self.rps, seed)
        order = torch.argsort(loss)[:samples]
        out = [composite(from_model(pred[i], w, h), arr, missing) for i in order.tolist()]
        return out, loss[order]
