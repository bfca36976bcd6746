"""VAE training: reconstruction + beta * KL, EMA of the whole VAE."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ... import losses
from ...compute import Compute
from ...distributed import SINGLE_PROCESS, Dist
from ...models.vae import VAE
from .base import Recipe, adam


class VAERecipe(Recipe):
    """Encoder + decoder, reconstruction + beta * KL, EMA of the whole VAE."""

    family = "vae"

    def __init__(
        self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
    ):
        super().__init__(cfg, compute, dist, resuming=resuming)
        m = self.model_cfg
        self.vae = self.place(VAE(m))
        self.ema = copy.deepcopy(self.vae).requires_grad_(False)
        self.opt = adam(self.vae.parameters(), m.lr, (m.beta1, m.beta2), self.device)
        self.g_eps = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        self.opt.zero_grad(set_to_none=True)
        with self.compute.autocast():
            mu, logvar = self.vae.encoder(real)
            eps = torch.randn(mu.shape, generator=self.g_eps).to(self.device)
            z = mu + eps * torch.exp(0.5 * logvar)
            recon = self.vae.decoder(z)
        rec = losses.reconstruction(recon, real, self.model_cfg.recon)
        kl = losses.kl_divergence(mu, logvar)
        loss = rec + self.model_cfg.beta * kl
        self.scaler.scale(loss).backward()
        self.dist.sync_grads(self.vae.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.update_ema(self.ema, self.vae, step)
        return {"loss": loss.detach(), "recon": rec.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.model_cfg.nz, generator=torch.Generator().manual_seed(0)).to(
            self.device
        )
        return self.inference_copy(self.ema).decoder(z)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.vae, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def random_streams(self) -> dict[str, torch.Generator]:
        return {"eps": self.g_eps}
