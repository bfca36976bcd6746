"""Restoration at any input size: inpainting and colorization with a network at its own size."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..color import lab_scaled_to_rgb, rgb_to_lab_scaled
from ..errors import UserError
from ..images import open_image, tensor_to_uint8, uint8_to_tensor
from .base import Task, composite, finite, open_image_and_mask
from .letterbox import from_model, letterbox, mask_to_model


class Restorer(Task):
    """Shared by the restoration tasks: a network at its own size, any input size outside."""

    batch_size = 64

    @torch.inference_mode()
    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Run the network over (N, ...) inputs in chunks; returns a finite float tensor."""
        outs = []
        for i in range(0, inputs[0].shape[0], self.batch_size):
            chunk = [
                self.compute.layout(x[i : i + self.batch_size].to(self.device)) for x in inputs
            ]
            with self.compute.autocast():
                outs.append(self.model(*chunk).float().cpu())
        return finite(torch.cat(outs))


class Inpainter(Restorer):
    """Fills missing regions: ``inpainter(image, mask)`` -> PIL image of the input's size.

    ``mask``: white (> 127) = missing, same size as the image; without a mask, the image's
    transparent pixels (alpha < 128) are the missing ones. Known pixels come back exactly.
    """

    takes_mask = True  # the batch machinery passes each file's mask to prepare()

    def prepare(self, image, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Validate -> (rgb uint8 (H, W, 3), missing bool (H, W))."""
        return open_image_and_mask(image, mask)

    def __call__(self, image, mask=None) -> Image.Image:
        return self.batch([image], [mask])[0]

    def batch(self, images: list, masks: list) -> list[Image.Image]:
        """Inpaint several images (any sizes) in batched forward passes."""
        if len(images) != len(masks):
            raise UserError("give one mask (or None) per image")
        prepared = [self.prepare(im, m) for im, m in zip(images, masks)]
        return self.batch_prepared(prepared)

    def batch_prepared(self, prepared: list[tuple[np.ndarray, np.ndarray]]) -> list[Image.Image]:
        """Like ``batch`` for already validated (rgb, missing) pairs."""
        if not prepared:
            return []
        s = self.size
        x = uint8_to_tensor(np.stack([letterbox(rgb, s, Image.BICUBIC) for rgb, _ in prepared]))
        m = torch.from_numpy(np.stack([mask_to_model(miss, s) for _, miss in prepared]))
        pred = self._run(x, m[:, None].float())
        results = []
        for (rgb, missing), p in zip(prepared, pred):
            h, w = missing.shape
            if not missing.any():
                results.append(Image.fromarray(rgb))
                continue
            results.append(composite(from_model(p, w, h), rgb, missing))
        return results


class Colorizer(Restorer):
    """Colors a grayscale image: ``colorizer(gray)`` -> RGB PIL image of the input's size.

    A color input is converted to gray first. The result keeps the input's luminance:
    the network predicts a/b (Lab) at its own size, they are upsampled and recombined with
    the full-resolution L of the input.
    """

    def prepare(self, image) -> np.ndarray:
        """Validate -> gray uint8 (H, W)."""
        return np.asarray(open_image(image).convert("L"), dtype=np.uint8)

    def __call__(self, image) -> Image.Image:
        return self.batch([image])[0]

    def batch(self, images: list) -> list[Image.Image]:
        return self.batch_prepared([self.prepare(im) for im in images])

    def batch_prepared(self, grays: list[np.ndarray]) -> list[Image.Image]:
        if not grays:
            return []
        s = self.size
        small = np.stack([letterbox(g, s, Image.BICUBIC) for g in grays])
        lum_small, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(small[..., None], 3, axis=3)))
        ab = self._run(lum_small)
        results = []
        for g, ab_i in zip(grays, ab):
            h, w = g.shape
            lum, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(g[None, ..., None], 3, axis=3)))
            rgb = lab_scaled_to_rgb(lum, from_model(ab_i, w, h)[None], keep_luminance=True)
            results.append(Image.fromarray(tensor_to_uint8(rgb)[0]))
        return results
