"""Upscaler training: a crop of each real image, shrunk by the factor, is upscaled back (L1)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ...compute import Compute
from ...distributed import SINGLE_PROCESS, Dist
from ...models.upscale import UpscaleNet
from .base import Recipe, adam


class UpscaleRecipe(Recipe):
    """One random crop per step (aligned to the factor), its box-filtered shrink as input."""

    family = "upscale"

    def __init__(self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS):
        super().__init__(cfg, compute, dist)
        m = self.model_cfg
        self.net = self.place(UpscaleNet(m))
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = adam(self.net.parameters(), m.lr, (m.beta1, m.beta2), self.device)
        self.g_crop = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model_cfg
        cells = (real.shape[-1] - m.crop) // m.factor + 1
        y0, x0 = (torch.randint(cells, (2,), generator=self.g_crop) * m.factor).tolist()
        hi = real[..., y0 : y0 + m.crop, x0 : x0 + m.crop]
        self.opt.zero_grad(set_to_none=True)
        with self.compute.autocast():
            out = self.net(F.avg_pool2d(hi, m.factor))
        loss = F.l1_loss(out.float(), hi.float())
        self.scaler.scale(loss).backward()
        self.dist.sync_grads(self.net.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.update_ema(self.ema, self.net, step)
        return {"l1": loss.detach()}

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        """Rows of (input shown at full size, upscaled, original) for the fixed preview images."""
        real = self.preview_images().float()
        small = F.avg_pool2d(real, self.model_cfg.factor)
        shown = F.interpolate(small, size=real.shape[-2:], mode="nearest")
        out = self.inference_copy(self.ema)(small).clamp(-1, 1)
        return torch.stack([shown, out, real], dim=1).flatten(0, 1)[:n]

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.net, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def random_streams(self) -> dict[str, torch.Generator]:
        return {"crop": self.g_crop}
