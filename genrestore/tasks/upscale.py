"""Upscaling: an image ``factor`` times larger, the detail bicubic would blur drawn back in.

Trained on the built-in faces (vector drawings), it is what takes a 64-px face model's
answer to the size of the image it is pasted into (tasks/restore.py) and 64-px generated
faces to 256 px.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..images import open_image, tensor_to_uint8, uint8_to_tensor
from ..metrics import binomial_blur, collapse_pyramid, laplacian_pyramid
from .base import Task, finite

MAX_OUTPUT_PIXELS = 64_000_000  # an upscaled image larger than this is refused


class Upscaler(Task):
    """``upscaler(image)`` -> RGB PIL image ``config.factor`` times larger on each side."""

    @property
    def factor(self) -> int:
        return self.config.factor

    def prepare(self, image) -> np.ndarray:
        """Validate -> rgb uint8 (H, W, 3); the output may have at most ``MAX_OUTPUT_PIXELS``."""
        from ..images import source_name

        img = open_image(image)
        if img.width * img.height * self.factor**2 > MAX_OUTPUT_PIXELS:
            raise UserError(
                f"{source_name(image)}: {img.width}x{img.height} upscaled {self.factor}x would "
                f"be over {MAX_OUTPUT_PIXELS // 1_000_000} megapixels; shrink it first"
            )
        return np.asarray(img.convert("RGB"), dtype=np.uint8)

    def __call__(self, image) -> Image.Image:
        x = uint8_to_tensor(self.prepare(image)[None])
        return Image.fromarray(tensor_to_uint8(self.upscale(x))[0])

    @torch.inference_mode()
    def upscale(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, h, w) in [-1, 1] -> (N, 3, factor * h, factor * w) in [-1, 1]; with
        ``config.core``, its faint fine detail faded (``fade_faint_detail``)."""
        if self.config.guided:
            raise UserError(
                f"{self.name}: refines inpainting answers around an image's known pixels "
                f"(it serves {self.config.base}); it cannot upscale an image on its own"
            )
        with self.compute.autocast():
            out = self.model(self.compute.layout(x.to(self.device)))
        out = finite(out.float().cpu())
        return fade_faint_detail(out, self.config.core) if self.config.core else out

    @torch.inference_mode()
    def refine(self, small: torch.Tensor, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Guided: an inpainter's answer (N, 3, h, w), its hole filled, drawn at the size of
        ``image`` (N, 3, factor * h, factor * w) around its ``known`` pixels (N, 1, ...) in
        {0, 1} -> (N, 3, factor * h, factor * w) in [-1, 1]."""
        inputs = [self.compute.layout(t.to(self.device)) for t in (small, image, known)]
        with self.compute.autocast():
            out = finite(self.model(*inputs).float().cpu())
        if self.config.sharpen:
            out = out + self.config.sharpen * (out - binomial_blur(out, padding="replicate"))
        return out.clamp(-1, 1)


def fade_faint_detail(x: torch.Tensor, amplitude: float, levels: int = 2) -> torch.Tensor:
    """(N, C, H, W) -> the same with each of its ``levels`` finest Laplacian levels
    (``metrics.laplacian_pyramid``, edges replicated) scaled by a^4 / (a^4 + amplitude^4),
    a the level's magnitude per pixel and channel: detail much fainter than ``amplitude``
    goes, detail much stronger stays (coring). A level is taken only where the image's sides
    are even; the rest of the image comes back as it was."""
    bands = laplacian_pyramid(x, 1, levels=levels, padding="replicate")
    t4 = amplitude**4
    for band in bands[:-1]:  # in place: a^4/(a^4+t^4) = 1 - t^4/(a^4+t^4)
        band.mul_(band.square().square_().add_(t4).reciprocal_().mul_(-t4).add_(1))
    return collapse_pyramid(bands, padding="replicate")


def _shipped_upscalers(task: Task, guided: bool):
    """(card model config, path) of the shipped upscale models whose output side is
    ``task``'s size times their factor, guided or not."""
    from .shipped import list_models

    for m in list_models():
        cfg = m["card"].get("train_config", {}).get("model", {})
        if (
            m["card"].get("family") == "upscale"
            and bool(cfg.get("guided", False)) == guided
            and cfg.get("size", 0) == task.size * cfg.get("factor", 0)
        ):
            yield cfg, m["path"]


def companion_refiner(task: Task) -> Upscaler | None:
    """The shipped guided upscaler trained on the answers of the inpainter ``task`` (its
    ``base`` is the task's name: its card's, or its file's without .safetensors), or None."""
    if getattr(task.config, "native", False) or not task.name:
        return None
    names = {task.card.get("name"), Path(task.name).stem}  # task.name: its file's path
    for cfg, path in _shipped_upscalers(task, guided=True):
        if cfg.get("base") in names:
            return _load(path)
    return None


def companion_upscaler(task: Task) -> Upscaler | None:
    """The shipped upscaler for ``task``'s images, or None.

    Only a fixed-size model trained on the built-in faces has one: a shipped ``upscale``
    model whose input side (its size over its factor) is the task's size. A model trained
    on other images keeps plain resizing: the upscaler draws face-like edges.
    """
    if getattr(task.config, "native", False):
        return None
    if task.card.get("train_config", {}).get("data", {}).get("source") != "avatars":
        return None
    path = next((path for _, path in _shipped_upscalers(task, guided=False)), None)
    return None if path is None else _load(path)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Upscaler:
    from . import load

    return load(path)
