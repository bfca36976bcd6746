"""Adapters from the inference tasks to the batch engine's ``BatchJob`` protocol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from ..tasks import Colorizer, Generator, Inpainter, Restorer


class _RestorerJob:
    """An Inpainter or Colorizer: one input -> one image at ``out``, ``batch_size`` per pass."""

    def __init__(self, task: Restorer, batch_size: int | None):
        if batch_size is not None:
            task.batch_size = batch_size  # the task chunks its own forward passes by it too
        self.task = task
        self.batch_size: int = task.batch_size

    def run(self, prepared_items: list) -> list[list[Image.Image]]:
        return [[img] for img in self.task.batch_prepared(prepared_items)]

    def output_paths(self, out: Path) -> list[Path]:
        return [out]


class InpaintJob(_RestorerJob):
    """``Inpainter`` as a batch job: each input is an image and its mask file (or alpha)."""

    task: Inpainter

    def prepare(self, src: Path, mask: Path | None) -> tuple[np.ndarray, np.ndarray]:
        return self.task.prepare(src, mask)  # (rgb uint8 (H, W, 3), missing bool (H, W))


class ColorizeJob(_RestorerJob):
    """``Colorizer`` as a batch job: each input is one image; there are no masks."""

    task: Colorizer

    def prepare(self, src: Path, mask: Path | None) -> np.ndarray:
        return self.task.prepare(src)  # gray uint8 (H, W); mask is always None here


class CompleteJob:
    """``Completer`` as a batch job: one input -> ``samples`` files, best fit first."""

    batch_size = 1  # each input is its own set of candidates (encoder or search)

    def __init__(
        self, gen: Generator, keep: str | None, samples: int, seed: int, method: str = "auto"
    ):
        from ..tasks import Completer

        self.completer = Completer(gen, method=method)
        self.keep, self.samples, self.seed = keep, samples, seed

    def prepare(self, src: Path, mask: Path | None) -> tuple[np.ndarray, np.ndarray]:
        from ..tasks import open_image_and_mask

        # --keep names a region of the face layout; it replaces a mask file
        return open_image_and_mask(src, self.keep or mask, regions=True)

    def run(self, prepared_items: list) -> list[list[Image.Image]]:
        return [
            self.completer.complete_prepared(rgb, missing, self.samples, self.seed)[0]
            for rgb, missing in prepared_items
        ]

    def output_paths(self, out: Path) -> list[Path]:
        return [out.with_name(f"{out.stem}-{i}.png") for i in range(self.samples)]
