"""GAN training: generator + discriminator, DiffAugment on real and fake, lazy R1, EMA of G."""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from ... import losses
from ...compute import Compute
from ...data.augment import diff_augment
from ...distributed import SINGLE_PROCESS, Dist
from ...errors import UserError
from ...families.gan import FAMILY, GANConfig
from ...metrics import pyramid_down
from ...models.gan import GANDiscriminator, GANGenerator
from .base import Recipe, adam, ema_update


def start_from(net: GANGenerator, name: str, cfg: GANConfig | None = None) -> None:
    """Copy generator ``name``'s weights (a shipped name or a .safetensors path) into
    ``net`` (built from ``cfg``), in place; it must have ``net``'s shapes and layers."""
    from ...tasks import load

    src = load(name, device="cpu")
    weights, own = src.model.state_dict(), net.state_dict()
    if weights.keys() != own.keys() or any(weights[k].shape != own[k].shape for k in own):
        fields = FAMILY.init_fields
        comparable = cfg is not None and src.family == "gan"  # else no field to --set
        differ = [
            f"{f}={getattr(src.config, f)!r} (here {getattr(cfg, f)!r})"
            for f in fields
            if comparable and getattr(src.config, f) != getattr(cfg, f)
        ]
        raise UserError(
            f"--init {name}: its generator does not match this one "
            + (
                f"(it has {', '.join(differ)}: a fine-tune keeps its shape)"
                if differ
                else f"({', '.join(fields)} must be the same)"
            )
        )
    with torch.no_grad():
        for k, v in weights.items():
            own[k].copy_(v)
    net.load_state_dict(own)


class GANRecipe(Recipe):
    """Generator + discriminator, DiffAugment on real and fake, optional lazy R1, EMA of G."""

    family = "gan"

    def __init__(
        self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
    ):
        super().__init__(cfg, compute, dist, resuming=resuming)
        m = self.model_cfg
        self.G = self.place(GANGenerator(m))
        # D's side: the images' after d_levels halvings (``_judged``)
        self.D = self.place(
            GANDiscriminator(dataclasses.replace(m, size=m.size >> m.d_levels, d_levels=0))
        )
        if m.init and not self.resuming:
            start_from(self.G, m.init, m)
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), self.device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), self.device)
        self.d_loss, self.g_loss = losses.GAN_LOSSES[m.loss]
        self.g_z = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))
        self.g_aug = torch.Generator().manual_seed(dist.seed(cfg.seed + 2))

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.model_cfg.nz, generator=self.g_z).to(self.device)

    def _judged(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, S, S) -> what D sees: their low-pass after ``d_levels`` halvings."""
        for _ in range(self.model_cfg.d_levels):
            x = pyramid_down(x)
        return x

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return (
            diff_augment(x, self.model_cfg.diffaugment, self.g_aug)
            if self.model_cfg.diffaugment
            else x
        )

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        n = real.shape[0]
        z = self._z(n)
        seen_real = self._judged(real)  # once, for D and R1; ``real`` itself when d_levels=0
        # Discriminator
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            fake = self.G(z)
            seen_fake = self._judged(fake)  # once, for D (detached) and G
            d_real = self.D(self._aug(seen_real)).float()
            d_fake = self.D(self._aug(seen_fake.detach())).float()
            loss_d = self.d_loss(d_real, d_fake)
        self.scaler.scale(loss_d).backward()
        out = {"loss_d": loss_d.detach()}
        if self.model_cfg.r1_gamma > 0 and step % self.model_cfg.r1_every == 0:
            x = seen_real.detach().requires_grad_(True)
            with self.compute.autocast():
                logits = self.D(self._aug(x)).float()
            r1 = losses.r1_penalty(logits, x)
            self.scaler.scale(
                r1 * (0.5 * self.model_cfg.r1_gamma * self.model_cfg.r1_every)
            ).backward()
            out["r1"] = r1.detach()
        self.dist.sync_grads(self.D.parameters())
        self.scaler.step(self.opt_d)
        if self.model_cfg.init and step <= self.model_cfg.d_warmup:
            self.scaler.update()  # a fresh D learns against the started G first
            return out
        # Generator
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with self.compute.autocast():
            loss_g = self.g_loss(self.D(self._aug(seen_fake)).float())
        self.scaler.scale(loss_g).backward()
        self.D.requires_grad_(True)
        self.dist.sync_grads(self.G.parameters())
        self.scaler.step(self.opt_g)
        self.scaler.update()
        self.update_ema(self.ema, self.G, step)
        out["loss_g"] = loss_g.detach()
        return out

    def update_ema(self, ema: nn.Module, live: nn.Module, step: int) -> None:
        if self.model_cfg.init:  # the EMA starts as a trained G: no ramp-up
            ema_update(ema, live, self.model_cfg.ema_decay)
        else:
            super().update_ema(ema, live, step)

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.model_cfg.nz, generator=torch.Generator().manual_seed(0)).to(
            self.device
        )
        return self.inference_copy(self.ema)(z)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.G, "ema": self.ema, "disc": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def random_streams(self) -> dict[str, torch.Generator]:
        return {"z": self.g_z, "aug": self.g_aug}
