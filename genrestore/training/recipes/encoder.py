"""Completion-encoder training: learn q(z | visible pixels) from a frozen generator's samples.

Every step draws fresh latents z, renders G(z) with the frozen generator, hides most of each
face with a completion mask, and fits a diagonal Gaussian over z to it by its negative
log-likelihood. No image files are read: the generator supplies unlimited training pairs.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ...compute import Compute
from ...data.masks import keep_mask, mixed_mask, parse_mask_mix
from ...distributed import SINGLE_PROCESS, Dist
from ...errors import UserError
from ...models.encoder import CompletionEncoder
from .base import Recipe, adam


def gaussian_nll(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood (constant dropped) of z (N, nz) under N(mu, exp(logvar))."""
    return 0.5 * (logvar + (z - mu).pow(2) * torch.exp(-logvar)).mean()


class EncoderRecipe(Recipe):
    """A CompletionEncoder against the frozen generator its config names."""

    uses_data = False

    def __init__(
        self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
    ):
        from ...tasks import Generator, load

        super().__init__(cfg, compute, dist, resuming=resuming)
        m = self.model_cfg
        gen = load(m.generator, device=str(self.device), precision=compute.precision)
        if not isinstance(gen, Generator) or (gen.nz, gen.size) != (m.nz, m.size):
            raise UserError(
                f"{m.generator}: the encoder needs a generator with nz={m.nz} at {m.size} px "
                f"(it is a {gen.family} model"
                + (f", nz={gen.nz}, {gen.size} px)" if isinstance(gen, Generator) else ")")
            )
        self.gen = gen
        self.E = self.place(CompletionEncoder(m))
        self.ema = copy.deepcopy(self.E).requires_grad_(False)
        self.opt = adam(self.E.parameters(), m.lr, (m.beta1, m.beta2), self.device)
        self.g_z = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))
        self.mix = parse_mask_mix(m.masks)

    def _batch(self, z: torch.Tensor, masks: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Generated faces for z and the encoder's input: (x (N, 3, S, S), input (N, 4, S, S))."""
        with torch.no_grad():
            x = self.gen.forward(z.to(self.device))
        known = torch.from_numpy(~masks).to(self.device, torch.float32)[:, None]
        return x, self.compute.layout(torch.cat([x * known, known], 1))

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        n, s = real.shape[0], self.model_cfg.size
        z = torch.randn(n, self.model_cfg.nz, generator=self.g_z)
        first = self.dist.rank * n  # index in the global batch
        rngs = [np.random.default_rng([self.cfg.seed, step, first + i]) for i in range(n)]
        masks = np.stack([mixed_mask(s, s, rng, self.mix) for rng in rngs])
        _, inp = self._batch(z, masks)
        self.opt.zero_grad(set_to_none=True)
        with self.compute.autocast():
            mu, logvar = self.E(inp)
        loss = gaussian_nll(z.to(self.device), mu.float(), logvar.float())
        self.scaler.scale(loss).backward()
        self.dist.sync_grads(self.E.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.update_ema(self.ema, self.E, step)
        return {"nll": loss.detach(), "std": torch.exp(0.5 * logvar.detach()).mean()}

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        """Rows of (visible left eye, two completions, the generated original)."""
        rows = max(1, n // 4)
        s = self.model_cfg.size
        g = torch.Generator().manual_seed(0)
        z = torch.randn(rows, self.model_cfg.nz, generator=g)
        masks = np.repeat(keep_mask("left-eye", s, s)[None], rows, axis=0)
        x, inp = self._batch(z, masks)
        mu, logvar = self.ema.eval()(inp)
        std = torch.exp(0.5 * logvar)
        picks = [self.gen.forward(mu + std * torch.randn(mu.shape, generator=g).to(mu.device))
                 for _ in range(2)]  # fmt: skip
        known = inp[:, 3:4]
        shown = x * known + (1 - known)  # hidden pixels white
        return torch.stack([shown, *picks, x], dim=1).flatten(0, 1)[:n].float()

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.E, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def random_streams(self) -> dict[str, torch.Generator]:
        return {"z": self.g_z}
