"""Restoration training: a U-Net against a PatchGAN, for inpainting and for colorization."""

from __future__ import annotations

import abc
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import losses
from ...color import lab_scaled_to_rgb, rgb_to_lab_scaled
from ...compute import Compute
from ...data.masks import parse_mask_mix, training_masks
from ...distributed import SINGLE_PROCESS, Dist
from ...families import family as get_family
from ...models.fill import pull_push
from ...models.patchgan import PatchGAN
from .base import Recipe, adam


class RestoreRecipe(Recipe):
    """U-Net + PatchGAN: L1 reconstruction + a small hinge adversarial term + feature matching.

    Subclasses fill in the five hooks below: what the network sees (``inputs``), what it
    predicts, what the discriminator compares (``d_views``), the reconstruction loss and
    how a preview row shows the input.
    """

    d_channels = 3  # channels of what the discriminator sees

    @abc.abstractmethod
    def inputs(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """The network's inputs for real images (B, 3, S, S), seeded by ``step``."""

    @abc.abstractmethod
    def predict(self, net: nn.Module, batch: dict) -> torch.Tensor:
        """``net``'s prediction for ``batch`` (what ``inputs`` returned)."""

    @abc.abstractmethod
    def d_views(self, batch: dict, pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real view, fake view), each (B, d_channels, S, S), for the discriminator."""

    @abc.abstractmethod
    def reconstruction(self, batch: dict, pred: torch.Tensor) -> torch.Tensor:
        """The scalar reconstruction loss of ``pred`` against the batch's target."""

    @abc.abstractmethod
    def show(self, batch: dict, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(input as shown to the user, result), each (B, 3, S, S) in [-1, 1]."""

    def __init__(
        self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
    ):
        super().__init__(cfg, compute, dist, resuming=resuming)
        m = self.model_cfg
        self.G = self.place(get_family(cfg.family).build_network(m))
        self.D = self.place(PatchGAN(self.d_channels, m.ndf))
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), self.device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), self.device)

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model_cfg
        if m.adv_weight == 0 and m.fm_weight == 0:  # no adversary: reconstruction only
            return self._plain_step(step, real)
        batch = self.inputs(real, step)
        with self.compute.autocast():
            pred = self.predict(self.G, batch)
            real_v, fake_v = self.d_views(batch, pred)
        loss_d, adv, fm = self.critic_step(self.D, self.opt_d, real_v, fake_v)
        self.opt_g.zero_grad(set_to_none=True)
        rec = self.reconstruction(batch, pred)
        loss_g = rec + self.model_cfg.adv_weight * adv + self.model_cfg.fm_weight * fm
        self._g_update(loss_g, step)
        self.D.requires_grad_(True)
        return {
            "loss_d": loss_d.detach(),
            "rec": rec.detach(),
            "adv": adv.detach(),
            "fm": fm.detach(),
        }

    def _plain_step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One generator step on the reconstruction loss alone (the PatchGAN stays idle)."""
        batch = self.inputs(real, step)
        with self.compute.autocast():
            pred = self.predict(self.G, batch)
        rec = self.reconstruction(batch, pred)
        self.opt_g.zero_grad(set_to_none=True)
        self._g_update(rec, step)
        return {"rec": rec.detach()}

    def _g_update(self, loss: torch.Tensor, step: int) -> None:
        """Backward ``loss`` into the (zeroed) generator grads, step it and its EMA."""
        self.scaler.scale(loss).backward()
        self.dist.sync_grads(self.G.parameters())
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.update_ema(self.ema, self.G, step)

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        """Rows of (input view, result, original) for the fixed preview images."""
        real = self.preview_images()
        batch = self.inputs(real, 0)
        out = self.predict(self.inference_copy(self.ema), batch).float()
        shown, result = self.show(batch, out)
        return torch.stack([shown, result, real.float()], dim=1).flatten(0, 1)[:n]

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.G, "ema": self.ema, "disc": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}


class InpaintRecipe(RestoreRecipe):
    """Learns image + mask -> image on the mixed masks of data/masks.py (seeded per step)."""

    family = "inpaint"
    d_channels = 4

    def inputs(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        n, _, h, w = real.shape
        weights = parse_mask_mix(self.model_cfg.masks)
        seed, first = self.cfg.seed, self.dist.rank * n  # index in the global batch
        masks = training_masks(n, h, w, weights, seed, step, first)
        mask = torch.from_numpy(masks).to(self.device).unsqueeze(1).float()
        batch = {"real": real, "mask": self.compute.layout(mask)}
        if self.model_cfg.native:  # which images start from a coarser level's answer
            coins = [np.random.default_rng([seed, step, first + i, 1]).random() for i in range(n)]
            batch["from_coarse"] = torch.tensor(coins, device=self.device).view(n, 1, 1, 1) < 0.5
        return batch

    def predict(self, net: nn.Module, b: dict) -> torch.Tensor:
        """A native network learns both pyramid steps of tasks/restore.py: correcting the
        ``pull_push`` fill of a hole (the coarsest level), and correcting it once more where
        the guess also carries the network's own correction at half the size, upsampled
        (every finer level)."""
        real, mask = b["real"], b["mask"]
        if not self.model_cfg.native:
            return net(real, mask)
        with torch.no_grad():
            small, small_mask = F.avg_pool2d(real, 2), F.max_pool2d(mask, 2)
            small_smooth = pull_push(small, 1 - small_mask, smooth=True)
            correction = (net(small, small_mask, small_smooth) - small_smooth) * small_mask
            up = F.interpolate(correction, size=real.shape[-2:], mode="bilinear")
            guess = pull_push(real, 1 - mask, smooth=True) + up * mask * b["from_coarse"]
        return net(real, mask, guess)

    def d_views(self, b: dict, pred: torch.Tensor):
        m = b["mask"]
        comp = pred * m + b["real"] * (1 - m)
        return torch.cat([b["real"], m], 1), torch.cat([comp, m], 1)

    def reconstruction(self, b: dict, pred: torch.Tensor) -> torch.Tensor:
        m, kind = b["mask"], self.model_cfg.loss
        known = losses.masked_error(pred, b["real"], 1 - m, kind)
        return known + self.model_cfg.hole_weight * losses.masked_error(pred, b["real"], m, kind)

    def show(self, b: dict, out: torch.Tensor):
        m = b["mask"]
        damaged = b["real"] * (1 - m) + m  # holes shown white
        return damaged, out * m + b["real"] * (1 - m)


class ColorizeRecipe(RestoreRecipe):
    """Learns L -> ab in Lab (kornia's conversion), at the model's size."""

    family = "colorize"
    d_channels = 3

    def inputs(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        lum, ab = rgb_to_lab_scaled(real)
        return {
            "lum": self.compute.layout(lum),
            "ab": self.compute.layout(ab),
        }

    def predict(self, net: nn.Module, b: dict) -> torch.Tensor:
        return net(b["lum"])

    def d_views(self, b: dict, pred: torch.Tensor):
        lum = b["lum"].to(pred.dtype)
        return torch.cat([lum, b["ab"].to(pred.dtype)], 1), torch.cat([lum, pred], 1)

    def reconstruction(self, b: dict, pred: torch.Tensor) -> torch.Tensor:
        return losses.pointwise_error(pred, b["ab"], self.model_cfg.loss).mean()

    def show(self, b: dict, out: torch.Tensor):
        gray = lab_scaled_to_rgb(b["lum"], torch.zeros_like(out))
        return gray, lab_scaled_to_rgb(b["lum"], out)
