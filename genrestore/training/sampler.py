"""Shuffled batches of training images, reproducible and resumable (state saves as tensors)."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError


class BatchSampler:
    """Shuffled epochs over N images, driven by its own generator; state saves as tensors.

    ``images`` is read row by row (a memory map stays a memory map: only the rows of a
    batch are copied). With ``world`` processes, every rank draws the same global batch
    of ``batch`` indices and takes its own ``batch // world`` of them, so the data order
    (and the saved sampler state) is the same on every rank and for any world size.
    """

    def __init__(
        self,
        images: np.ndarray,
        batch: int,
        seed: int,
        hflip: bool,
        rank: int = 0,
        world: int = 1,
    ):
        self.images = images  # uint8 (N, H, W, 3), numpy or memmap
        n = images.shape[0]
        if batch % world:
            raise UserError(
                f"--batch {batch} does not split evenly over {world} processes; "
                f"use a multiple of {world} (it is the global batch, all processes together)"
            )
        if batch > n:  # a tiny dataset: one batch is all of it (rounded to split evenly)
            batch = n - n % world
            if batch == 0:
                raise UserError(f"{n} training images cannot be shared by {world} processes")
        self.batch = batch  # global: all ranks together
        self.local = batch // world
        self.rank, self.world = rank, world
        self.hflip = hflip
        self.g = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.g)
        self.pos = 0

    def next(
        self, device: torch.device, memory_format: torch.memory_format = torch.channels_last
    ) -> torch.Tensor:
        """This rank's batch (B / world, 3, H, W) float in [-1, 1] on ``device``."""
        if self.pos + self.batch > self.perm.numel():
            self.perm = torch.randperm(self.images.shape[0], generator=self.g)
            self.pos = 0
        mine = slice(self.rank * self.local, (self.rank + 1) * self.local)
        idx = self.perm[self.pos : self.pos + self.batch][mine]
        self.pos += self.batch
        rows = torch.from_numpy(np.ascontiguousarray(self.images[idx.numpy()]))
        if device.type == "cuda":
            rows = rows.pin_memory()
        x = rows.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = x.div_(127.5).sub_(1.0)
        if self.hflip:
            flip = (torch.rand(self.batch, generator=self.g)[mine] < 0.5).to(device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x.contiguous(memory_format=memory_format)

    def state(self) -> dict[str, torch.Tensor]:
        return {"g": self.g.get_state(), "perm": self.perm, "pos": torch.tensor(self.pos)}

    def load_state(self, st: dict[str, torch.Tensor]) -> None:
        self.g.set_state(st["g"])
        self.perm = st["perm"].clone()
        self.pos = int(st["pos"])
