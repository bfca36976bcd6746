"""``train(config) -> run_dir``: one loop, a small recipe per family, EMA, atomic resumable saves.

A run directory holds ``config.json`` (the resolved config), ``checkpoint.safetensors``
(models, EMA, optimizers, RNG and data-order state in one atomically replaced file),
``log.txt`` and ``samples-<step>.png``. ``resume=True`` continues bit-for-bit (on CPU)
where the last save left off.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import losses
from .checkpoint import (
    Checkpoint,
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from .color import lab_scaled_to_rgb, rgb_to_lab_scaled
from .compute import Compute, choose
from .config import DataConfig, TrainConfig, train_config_from_dict
from .data.augment import diff_augment
from .distributed import SINGLE_PROCESS, Dist, device_for, env_rank, from_env
from .errors import UserError
from .images import image_grid, save_image, tensor_to_pil

CHECKPOINT = "checkpoint.safetensors"

log = logging.getLogger("genrestore")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last good checkpoint."""


# --- environment ------------------------------------------------------------------------------


def load_training_images(data: DataConfig, size: int, progress: bool = True) -> np.ndarray:
    """uint8 (N, size, size, 3) for the configured data source."""
    if data.source == "avatars":
        from .data.avatars import load_faces

        return load_faces(data.count, size, progress=progress)
    from .data.folder import load_folder

    return load_folder(data.source, size, progress=progress).images


# --- helpers shared by the recipes --------------------------------------------------------------


def adam(
    params, lr: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.Optimizer:
    """Adam with the fastest kernel for the device: fused on CUDA, multi-tensor on CPU."""
    kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr, betas, **kernel)


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


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers copied."""
    e = [p for p in ema.parameters()]
    l_ = [p.detach() for p in live.parameters()]
    torch._foreach_lerp_(e, l_, 1.0 - decay)
    for be, bl in zip(ema.buffers(), live.buffers()):
        be.copy_(bl)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module, sample_input, batches: int = 16, device: torch.device | None = None
) -> None:
    """Standing statistics: recompute BN running stats of ``model`` from fresh batches.

    The EMA weights never ran forward in training, so the live model's running stats do
    not fit them; re-estimating them (BigGAN's "standing stats") makes eval-mode samples
    match train-mode quality and makes sampling independent of the batch.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training = model.training
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    for i in range(batches):
        model(sample_input(i))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)


def _check_finite(
    first: int, step: int, values: dict[str, torch.Tensor], run_dir: Path, last_save: int
):
    """Raise TrainingDiverged if a loss (mean over steps ``first``..``step``) is not finite."""
    bad = {k: float(v) for k, v in values.items() if not torch.isfinite(v).all()}
    if bad:
        where = (
            f"the last good checkpoint is {run_dir / CHECKPOINT} (step {last_save})"
            if last_save > 0
            else "no checkpoint was saved yet"
        )
        when = f"at step {step}" if first >= step else f"between steps {first} and {step}"
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(
            f"training diverged {when} ({names}); {where}. "
            "Lower the learning rate or use --precision fp32"
        )


def _seed_host(seed: int) -> None:
    """Seed torch's, Python's and numpy's global generators (numpy's takes 32 bits)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _rng_meta() -> str:
    np_state = np.random.get_state()
    return json.dumps(
        {
            "python": list(random.getstate()[1]) + [random.getstate()[2]],
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        }
    )


def _restore_rng_meta(text: str) -> None:
    st = json.loads(text)
    py = st["python"]
    random.setstate((3, tuple(py[:-1]), py[-1]))
    n = st["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))


# --- the recipes ------------------------------------------------------------------------------


class _Recipe:
    """What every family's recipe holds: its config, compute settings, process group.

    A recipe builds its networks and optimizers, and ``step(step, real)`` runs one training
    step on this process's share of the batch, averaging gradients over ``dist`` before
    each optimizer step.
    """

    def __init__(
        self,
        cfg: TrainConfig,
        compute: Compute,
        dist: Dist = SINGLE_PROCESS,
    ):
        self.cfg, self.m, self.compute, self.dist = cfg, cfg.model, compute, dist
        self.device = compute.device
        self.scaler = torch.amp.GradScaler("cuda", enabled=compute.precision == "fp16")

    def _place(self, module: nn.Module) -> nn.Module:
        """A network on this recipe's device in its memory layout."""
        return self.compute.layout(module.to(self.device))


class GANRecipe(_Recipe):
    """Generator + discriminator, DiffAugment on real and fake, optional lazy R1, EMA of G."""

    family = "gan"

    def __init__(self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS):
        from .models.gan import Discriminator, Generator

        super().__init__(cfg, compute, dist)
        m = self.m
        self.G = self._place(Generator(m))
        self.D = self._place(Discriminator(m))
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), self.device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), self.device)
        self.d_loss, self.g_loss = losses.GAN_LOSSES[m.loss]
        self.g_z = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))
        self.g_aug = torch.Generator().manual_seed(dist.seed(cfg.seed + 2))

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.m.nz, generator=self.g_z).to(self.device)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.m.diffaugment, self.g_aug) if self.m.diffaugment else x

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        n = real.shape[0]
        z = self._z(n)
        # Discriminator
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            fake = self.G(z)
            d_real = self.D(self._aug(real)).float()
            d_fake = self.D(self._aug(fake.detach())).float()
            loss_d = self.d_loss(d_real, d_fake)
        self.scaler.scale(loss_d).backward()
        out = {"loss_d": loss_d.detach()}
        if self.m.r1_gamma > 0 and step % self.m.r1_every == 0:
            x = real.detach().requires_grad_(True)
            with self.compute.autocast():
                logits = self.D(self._aug(x)).float()
            r1 = losses.r1_penalty(logits, x)
            self.scaler.scale(r1 * (0.5 * self.m.r1_gamma * self.m.r1_every)).backward()
            out["r1"] = r1.detach()
        self.dist.sync_grads(self.D.parameters())
        self.scaler.step(self.opt_d)
        # Generator
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with self.compute.autocast():
            loss_g = self.g_loss(self.D(self._aug(fake)).float())
        self.scaler.scale(loss_g).backward()
        self.D.requires_grad_(True)
        self.dist.sync_grads(self.G.parameters())
        self.scaler.step(self.opt_g)
        self.scaler.update()
        decay = min(self.m.ema_decay, (1 + step) / (10 + step))
        ema_update(self.ema, self.G, decay)
        out["loss_g"] = loss_g.detach()
        return out

    @torch.no_grad()
    def inference_model(self) -> nn.Module:
        """A copy of the EMA generator with standing BN statistics, in eval mode."""
        model = copy.deepcopy(self.ema)
        g = torch.Generator().manual_seed(12345)
        recalibrate_batchnorm(
            model, lambda i: torch.randn(64, self.m.nz, generator=g).to(self.device)
        )
        return model.eval()

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.m.nz, generator=torch.Generator().manual_seed(0)).to(self.device)
        return self.inference_model()(z)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.G, "ema": self.ema, "disc": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def generators(self) -> dict[str, torch.Generator]:
        return {"z": self.g_z, "aug": self.g_aug}


class VAERecipe(_Recipe):
    """Encoder + decoder, reconstruction + beta * KL, EMA of the whole VAE."""

    family = "vae"

    def __init__(self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS):
        from .models.vae import VAE

        super().__init__(cfg, compute, dist)
        m = self.m
        self.vae = self._place(VAE(m))
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
        rec = losses.reconstruction(recon, real, self.m.recon)
        kl = losses.kl_divergence(mu, logvar)
        loss = rec + self.m.beta * kl
        self.scaler.scale(loss).backward()
        self.dist.sync_grads(self.vae.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        ema_update(self.ema, self.vae, min(self.m.ema_decay, (1 + step) / (10 + step)))
        return {"loss": loss.detach(), "recon": rec.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def inference_model(self) -> nn.Module:
        model = copy.deepcopy(self.ema)
        g = torch.Generator().manual_seed(12345)
        recalibrate_batchnorm(
            model.decoder, lambda i: torch.randn(64, self.m.nz, generator=g).to(self.device)
        )
        return model.eval()

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.m.nz, generator=torch.Generator().manual_seed(0)).to(self.device)
        return self.inference_model().decoder(z)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.vae, "ema": self.ema}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt}

    def generators(self) -> dict[str, torch.Generator]:
        return {"eps": self.g_eps}


def parse_mask_mix(text: str) -> dict[str, float]:
    """ "box:0.3,stroke:0.3" -> {"box": 0.3, "stroke": 0.3}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, w = part.partition(":")
        out[kind.strip()] = float(w or 1.0)
    return out


class RestoreRecipe(_Recipe):
    """U-Net + PatchGAN: L1 reconstruction + a small hinge adversarial term + feature matching.

    Subclasses say what the network sees (``inputs``), what it predicts, and what the
    discriminator compares (``d_views``).
    """

    d_channels = 3

    def __init__(self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS):
        from .models import build_inference_model
        from .models.patchgan import PatchGAN

        super().__init__(cfg, compute, dist)
        m = self.m
        self.G = self._place(build_inference_model(cfg.family, m))
        self.D = self._place(PatchGAN(self.d_channels, m.ndf))
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), self.device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), self.device)
        self.preview: torch.Tensor | None = None  # (8, 3, S, S) fixed images for sample grids

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = self.inputs(real, step)
        with self.compute.autocast():
            pred = self.predict(self.G, batch)
            real_v, fake_v = self.d_views(batch, pred)
        self.opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            d_real, _ = self.D(real_v)
            d_fake, _ = self.D(fake_v.detach())
            loss_d = losses.d_loss_hinge(d_real.float(), d_fake.float())
        self.scaler.scale(loss_d).backward()
        self.dist.sync_grads(self.D.parameters())
        self.scaler.step(self.opt_d)
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with self.compute.autocast():
            g_fake, f_fake = self.D(fake_v)
            with torch.no_grad():
                _, f_real = self.D(real_v)
            adv = losses.g_loss_hinge(g_fake.float())
            fm = losses.feature_matching(f_fake, f_real)
        rec = self.reconstruction(batch, pred)
        loss_g = rec + self.m.adv_weight * adv + self.m.fm_weight * fm
        self.scaler.scale(loss_g).backward()
        self.D.requires_grad_(True)
        self.dist.sync_grads(self.G.parameters())
        self.scaler.step(self.opt_g)
        self.scaler.update()
        ema_update(self.ema, self.G, min(self.m.ema_decay, (1 + step) / (10 + step)))
        return {
            "loss_d": loss_d.detach(),
            "rec": rec.detach(),
            "adv": adv.detach(),
            "fm": fm.detach(),
        }

    def inference_model(self) -> nn.Module:
        return copy.deepcopy(self.ema).eval()

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        """Rows of (input view, result, original) for the fixed preview images."""
        if self.preview is None:
            raise RuntimeError("preview images are not set")
        real = self.preview.to(self.device)
        batch = self.inputs(real, 0)
        out = self.predict(self.inference_model(), batch).float()
        shown, result = self.show(batch, out)
        return torch.stack([shown, result, real.float()], dim=1).flatten(0, 1)[:n]

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.G, "ema": self.ema, "disc": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def generators(self) -> dict[str, torch.Generator]:
        return {}


class InpaintRecipe(RestoreRecipe):
    """Learns image + mask -> image on the mixed masks of data/masks.py (seeded per step)."""

    family = "inpaint"
    d_channels = 4

    def inputs(self, real: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        from .data.masks import mixed_mask

        n, _, h, w = real.shape
        weights = parse_mask_mix(self.m.masks)
        seed, first = self.cfg.seed, self.dist.rank * n  # index in the global batch
        masks = np.stack(
            [
                mixed_mask(h, w, np.random.default_rng([seed, step, first + i]), weights)
                for i in range(n)
            ]
        )
        mask = torch.from_numpy(masks).to(self.device).unsqueeze(1).float()
        return {"real": real, "mask": self.compute.layout(mask)}

    def predict(self, net: nn.Module, b: dict) -> torch.Tensor:
        return net(b["real"], b["mask"])

    def d_views(self, b: dict, pred: torch.Tensor):
        m = b["mask"]
        comp = pred * m + b["real"] * (1 - m)
        return torch.cat([b["real"], m], 1), torch.cat([comp, m], 1)

    def reconstruction(self, b: dict, pred: torch.Tensor) -> torch.Tensor:
        m = b["mask"]
        return losses.masked_l1(pred, b["real"], 1 - m) + self.m.hole_weight * losses.masked_l1(
            pred, b["real"], m
        )

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
        return (pred.float() - b["ab"].float()).abs().mean()

    def show(self, b: dict, out: torch.Tensor):
        gray = lab_scaled_to_rgb(b["lum"], torch.zeros_like(out))
        return gray, lab_scaled_to_rgb(b["lum"], out)


RECIPES = {"gan": GANRecipe, "vae": VAERecipe, "inpaint": InpaintRecipe, "colorize": ColorizeRecipe}


# --- checkpointing of a run ----------------------------------------------------------------------


def _rng_states(recipe) -> dict:
    """This process's random streams: the recipe's generators, torch's, Python's and numpy's."""
    tensors = {name: g.get_state() for name, g in recipe.generators().items()}
    tensors["torch"] = torch.get_rng_state()
    return {"tensors": tensors, "host": _rng_meta()}


def _save_run(
    path: Path,
    recipe,
    sampler: BatchSampler,
    cfg: TrainConfig,
    step: int,
    wall: float,
    dist: Dist = SINGLE_PROCESS,
):
    """Collective: every rank hands over its RNG state; rank 0 writes the one checkpoint.

    Rank 0's streams keep the single-process names (``rng.z``, meta ``rng_host``); rank r > 0
    adds ``rng.rank<r>.*`` and ``rng_host.rank<r>``. Models, optimizers and the sampler are
    identical on every rank, so they are stored once.
    """
    states = dist.gather(_rng_states(recipe))
    if not dist.is_main:
        return
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in recipe.modules().items():
        for k, v in mod.state_dict().items():
            tensors[f"{prefix}.{k}"] = v
    optim_meta = {}
    for name, opt in recipe.optimizers().items():
        t, rest = optimizer_to_tensors(opt, f"optim.{name}")
        tensors.update(t)
        optim_meta[name] = rest
    meta = {}
    for r, st in enumerate(states):
        tag = "" if r == 0 else f"rank{r}."
        for name, state in st["tensors"].items():
            tensors[f"rng.{tag}{name}"] = state
        meta["rng_host" if r == 0 else f"rng_host.rank{r}"] = st["host"]
    for k, v in sampler.state().items():
        tensors[f"sampler.{k}"] = v
    save_checkpoint(
        path,
        tensors,
        family=cfg.family,
        config=dataclasses.asdict(cfg.model),
        step=step,
        meta={
            "train_config": json.dumps(cfg.to_dict(), sort_keys=True),
            "optim": json.dumps(optim_meta),
            "wall_seconds": f"{wall:.1f}",
            "world_size": str(dist.world),
            **meta,
        },
    )


def _load_run(
    path: Path, recipe, sampler: BatchSampler, dist: Dist = SINGLE_PROCESS
) -> tuple[int, float]:
    """Restore a run checkpoint on this rank; returns (step, wall seconds so far).

    A rank the checkpoint has no random streams for (the run was saved by fewer processes)
    starts fresh streams seeded by (seed, rank, step): training goes on correctly, just not
    bit-identical to an uninterrupted run.
    """
    ck = load_checkpoint(path)
    for prefix, mod in recipe.modules().items():
        try:
            mod.load_state_dict(ck.group(prefix))
        except RuntimeError as exc:
            raise UserError(f"{path}: weights do not fit this config ({str(exc)[:200]})") from None
    optim_meta = json.loads(ck.meta["optim"])
    for name, opt in recipe.optimizers().items():
        optimizer_from_tensors(opt, ck.tensors, f"optim.{name}", optim_meta[name])
    sampler.load_state(ck.group("sampler"))
    saved_world = int(ck.meta.get("world_size", "1"))
    tag = "" if dist.rank == 0 else f"rank{dist.rank}."
    if f"rng.{tag}torch" in ck.tensors:
        for name, g in recipe.generators().items():
            g.set_state(ck.tensors[f"rng.{tag}{name}"])
        torch.set_rng_state(ck.tensors[f"rng.{tag}torch"])
        _restore_rng_meta(ck.meta["rng_host" if dist.rank == 0 else f"rng_host.{tag[:-1]}"])
    else:
        seed = recipe.cfg.seed
        for k, g in enumerate(recipe.generators().values()):
            g.manual_seed(dist.seed(seed, ck.step, k + 1))
        _seed_host(dist.seed(seed, ck.step, 0))
    if saved_world != dist.world and dist.is_main:
        log.warning(
            "%s was saved by %d process(es) and resumes with %d: the data order goes on where "
            "it stopped, but the random streams differ from an uninterrupted run",
            path,
            saved_world,
            dist.world,
        )
    return ck.step, float(ck.meta.get("wall_seconds", 0.0))


# --- the loop ---------------------------------------------------------------------------------


def resolve_config(config: TrainConfig, **overrides) -> TrainConfig:
    """Apply keyword overrides (``data`` may be a path or "avatars") and fill ``out``."""
    if "data" in overrides and isinstance(overrides["data"], (str, os.PathLike)):
        overrides["data"] = dataclasses.replace(config.data, source=str(overrides["data"]))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise UserError(f"unknown training options {sorted(unknown)}")
    cfg = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if cfg.family not in RECIPES:
        raise UserError(f"unknown family {cfg.family!r}; trainable here: {', '.join(RECIPES)}")
    if cfg.steps < 1 or cfg.batch < 1:
        raise UserError("steps and batch must be at least 1")
    if not cfg.out:
        if env_rank()[1] > 1:  # each process would stamp its own time: one dir is needed
            raise UserError("with several processes (torchrun), give the run directory: --out DIR")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        cfg = dataclasses.replace(
            cfg, out=str(Path("runs") / f"{cfg.family}-{cfg.model.size}-{stamp}")
        )
    return cfg


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    images: np.ndarray | None = None,
    **overrides,
) -> Path:
    """Train ``config`` (keyword overrides: any TrainConfig field) and return the run dir.

    ``images`` (uint8 N, H, W, 3) replaces the configured data source (used by tests).
    With ``resume=True`` the run dir's checkpoint is restored (models, EMA, optimizers, RNG,
    data order) and training continues to ``steps``; the result is bit-for-bit the same as
    an uninterrupted run on CPU.

    Under ``torchrun`` (WORLD_SIZE > 1) each process trains on its share of every global
    batch of ``config.batch`` images, gradients are averaged after each backward, and only
    rank 0 writes the log, sample grids and the checkpoint (which holds every rank's random
    streams, so a distributed resume is exact too). The run directory must be on a
    filesystem all processes see when resuming.
    """
    cfg = resolve_config(config, **overrides)
    rank, world, local_rank = env_rank()
    is_main = rank == 0
    run_dir = Path(cfg.out)
    ckpt_path = run_dir / CHECKPOINT
    if resume:
        if not ckpt_path.exists():
            raise UserError(f"{run_dir}: nothing to resume (no {CHECKPOINT} there)")
        saved = train_config_from_dict(json.loads(load_checkpoint(ckpt_path).meta["train_config"]))
        # Only the length of the run may change on resume.
        if dataclasses.replace(saved, steps=cfg.steps) != cfg:
            cfg = dataclasses.replace(saved, steps=cfg.steps)
    elif ckpt_path.exists():
        raise UserError(
            f"{run_dir} already holds a run; pass --resume to continue it, or a new --out"
        )
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    device = device_for(cfg.device, local_rank, world)
    compute = choose(device, cfg.precision, "training")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)  # the same on every rank: same initial weights
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    # Before joining the process group: a long cache build must not run into its timeouts.
    # Every process maps the same cache file; one builds it while the others wait on its lock.
    if images is None:
        images = load_training_images(cfg.data, cfg.model.size, progress=progress)
    if images.shape[1:] != (cfg.model.size, cfg.model.size, 3) or images.dtype != np.uint8:
        raise UserError(
            f"training images are {images.dtype} {images.shape[1:]}, "
            f"expected uint8 {cfg.model.size}px RGB"
        )
    dist = from_env(device)
    if dist.enabled:  # every rank must compute alike: rank 0's measured choice is the run's
        main = dist.gather({"precision": compute.precision, "channels_last": compute.channels_last})
        compute = dataclasses.replace(compute, **main[0])
    try:
        return _train_loop(cfg, run_dir, images, compute, dist, resume, progress)
    finally:
        dist.close()


def _train_loop(
    cfg: TrainConfig,
    run_dir: Path,
    images: np.ndarray,
    compute: Compute,
    dist: Dist,
    resume: bool,
    progress: bool,
) -> Path:
    """The steps of ``train`` once data, device and process group are settled."""
    from tqdm import tqdm

    ckpt_path = run_dir / CHECKPOINT
    sampler = BatchSampler(images, cfg.batch, cfg.seed, cfg.data.hflip, dist.rank, dist.world)
    device = compute.device
    recipe = RECIPES[cfg.family](cfg, compute, dist)
    dist.broadcast_modules(recipe.modules().values())
    if dist.rank:  # per-rank streams for anything drawn from the global generators
        _seed_host(dist.seed(cfg.seed))
    if hasattr(recipe, "preview"):
        recipe.preview = BatchSampler(images[:8], 8, 0, False).next(device, compute.memory_format)

    start, wall_before = 0, 0.0
    if resume:
        start, wall_before = _load_run(ckpt_path, recipe, sampler, dist)
    if dist.is_main:
        (run_dir / "config.json").write_text(cfg.to_json())
        if dist.enabled:
            log.info(
                "%d processes on %s: global batch %d (%d per process)",
                dist.world,
                device.type,
                sampler.batch,
                sampler.local,
            )
    last_save = start
    t0 = time.perf_counter()
    t_window, n_window = t0, 0
    where = compute.describe() + (f" x {dist.world} processes" if dist.enabled else "")
    bar = tqdm(
        range(start + 1, cfg.steps + 1),
        initial=start,
        total=cfg.steps,
        disable=not (progress and dist.is_main),
        desc=f"train {cfg.family}" + (f" x{dist.world}" if dist.enabled else ""),
        unit="step",
        dynamic_ncols=True,
    )
    with contextlib.ExitStack() as stack, bar:
        log_file = stack.enter_context(open(run_dir / "log.txt", "a")) if dist.is_main else None
        if dist.is_main:
            log_file.write(
                f"# {'resume' if resume else 'start'} at step {start} on {where}, "
                f"global batch {sampler.batch} ({sampler.local} per process)\n"
            )
        sums: dict[str, torch.Tensor] = {}  # loss sums over the log window (no host sync)
        counts: dict[str, int] = {}
        window_start = start + 1
        for step in bar:
            stats = recipe.step(step, sampler.next(device, compute.memory_format))
            for k, v in stats.items():
                sums[k] = sums[k] + v.float() if k in sums else v.float()
                counts[k] = counts.get(k, 0) + 1
            n_window += sampler.batch  # all processes together
            is_log = step % cfg.log_every == 0 or step == cfg.steps
            is_save = step % cfg.save_every == 0 or step == cfg.steps
            if is_log or is_save:
                # means over the window and over all ranks: every rank checks the same
                # numbers, and a NaN at any step of the window shows here
                means = dist.mean({k: sums[k] / counts[k] for k in sums})
                _check_finite(window_start, step, means, run_dir, last_save)
            if is_log:
                sums, counts, window_start = {}, {}, step + 1
                now = time.perf_counter()
                ips = n_window / max(now - t_window, 1e-9)
                t_window, n_window = now, 0
                if dist.is_main:
                    bar.set_postfix(
                        **{k: f"{float(v):.3f}" for k, v in means.items()}, img_s=f"{ips:.0f}"
                    )
                    row = {
                        "step": step,
                        **{k: float(v) for k, v in means.items()},
                        "img_s": round(ips, 1),
                    }
                    log_file.write(json.dumps(row) + "\n")
                    log_file.flush()
            if dist.is_main and (step % cfg.sample_every == 0 or step == cfg.steps):
                grid = image_grid(tensor_to_pil(recipe.samples(64)), cols=8)
                save_image(grid, run_dir / f"samples-{step:07d}.png")
            if is_save:
                dist.check_in_sync(recipe.modules())
                wall = wall_before + time.perf_counter() - t0
                _save_run(ckpt_path, recipe, sampler, cfg, step, wall, dist)
                last_save = step
    dist.barrier()  # every rank returns once the last checkpoint is on disk
    return run_dir


def inference_checkpoint(run_dir: str | os.PathLike, card: dict | None = None) -> Checkpoint:
    """A run's EMA network (standing BN stats) as an in-memory inference checkpoint (fp32)."""
    run_dir = Path(run_dir)
    ck = load_checkpoint(run_dir / CHECKPOINT)
    if "train_config" not in ck.meta:
        raise UserError(f"{run_dir / CHECKPOINT}: not a training run checkpoint")
    cfg = train_config_from_dict(json.loads(ck.meta["train_config"]))
    recipe = RECIPES[cfg.family](cfg, Compute(torch.device("cpu"), "fp32", False, 1))
    recipe.ema.load_state_dict(ck.group("ema"))
    model = recipe.inference_model()
    data = (
        cfg.data.source if cfg.data.source != "avatars" else f"built-in faces [0, {cfg.data.count})"
    )
    card = {
        "family": cfg.family,
        "steps": ck.step,
        "wall_seconds": float(ck.meta.get("wall_seconds", 0.0)),
        "data": data,
        "train_config": cfg.to_dict(),
        **(card or {}),
    }
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    return Checkpoint(
        cfg.family, dataclasses.asdict(cfg.model), ck.step, card, tensors, {}, str(run_dir)
    )


def export(
    run_dir: str | os.PathLike, out_path: str | os.PathLike, card: dict | None = None
) -> dict:
    """Write a run's EMA network as fp16 inference weights + a JSON model card beside it."""
    ck = inference_checkpoint(run_dir, card)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in ck.tensors.items()}
    save_checkpoint(out_path, half, family=ck.family, config=ck.config, step=ck.step, card=ck.card)
    Path(out_path).with_suffix(".json").write_text(
        json.dumps(ck.card, indent=2, sort_keys=True) + "\n"
    )
    return ck.card
