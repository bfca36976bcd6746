"""``train(config) -> run_dir``: one loop, a small recipe per family, EMA, atomic resumable saves.

A run directory holds ``config.json`` (the resolved config), ``checkpoint.safetensors``
(models, EMA, optimizers, RNG and data-order state in one atomically replaced file),
``log.txt`` and ``samples-<step>.png``. ``resume=True`` continues bit-for-bit (on CPU)
where the last save left off.
"""

from __future__ import annotations

import copy
import dataclasses
import json
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
from .config import DataConfig, TrainConfig, train_config_from_dict
from .data.augment import diff_augment
from .errors import UserError
from .images import image_grid, save_image, tensor_to_pil

CHECKPOINT = "checkpoint.safetensors"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last good checkpoint."""


# --- environment ------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu or cuda") from None


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The autocast dtype for this device and precision setting (None = full fp32)."""
    if precision == "fp32":
        return None
    if precision not in ("auto", "bf16", "fp16"):
        raise UserError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if device.type == "cuda":
        if precision == "fp16":
            return torch.float16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16  # CPU: bf16 + channels_last measured 2.3x faster than fp32 here


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


def autocast(device: torch.device, amp: torch.dtype | None):
    """Autocast to ``amp`` on ``device``, or a no-op context when ``amp`` is None (fp32)."""
    return torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None)


class BatchSampler:
    """Shuffled epochs over N images, driven by its own generator; state saves as tensors."""

    def __init__(self, images: torch.Tensor, batch: int, seed: int, hflip: bool):
        self.images = images  # uint8 (N, H, W, 3)
        self.batch = min(batch, images.shape[0])
        self.hflip = hflip
        self.g = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(images.shape[0], generator=self.g)
        self.pos = 0

    def next(self, device: torch.device) -> torch.Tensor:
        """A batch (B, 3, H, W) float in [-1, 1], channels_last, on ``device``."""
        if self.pos + self.batch > self.perm.numel():
            self.perm = torch.randperm(self.images.shape[0], generator=self.g)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        x = self.images[idx].to(device, non_blocking=True).permute(0, 3, 1, 2).float()
        x = x.div_(127.5).sub_(1.0)
        if self.hflip:
            flip = (torch.rand(x.shape[0], generator=self.g) < 0.5).to(device)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
        return x.contiguous(memory_format=torch.channels_last)

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


def _check_finite(step: int, values: dict[str, torch.Tensor], run_dir: Path, last_save: int):
    bad = {k: float(v) for k, v in values.items() if not torch.isfinite(v).all()}
    if bad:
        where = (
            f"the last good checkpoint is {run_dir / CHECKPOINT} (step {last_save})"
            if last_save > 0
            else "no checkpoint was saved yet"
        )
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(
            f"training diverged at step {step} ({names}); {where}. "
            "Lower the learning rate or use --precision fp32"
        )


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


class GANRecipe:
    """Generator + discriminator, DiffAugment on real and fake, optional lazy R1, EMA of G."""

    family = "gan"

    def __init__(self, cfg: TrainConfig, device: torch.device, amp: torch.dtype | None):
        from .models.gan import Discriminator, Generator

        m = cfg.model
        self.cfg, self.m, self.device, self.amp = cfg, m, device, amp
        self.G = Generator(m).to(device, memory_format=torch.channels_last)
        self.D = Discriminator(m).to(device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), device)
        self.d_loss, self.g_loss = losses.GAN_LOSSES[m.loss]
        self.g_z = torch.Generator().manual_seed(cfg.seed + 1)
        self.g_aug = torch.Generator().manual_seed(cfg.seed + 2)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.m.nz, generator=self.g_z).to(self.device)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.m.diffaugment, self.g_aug) if self.m.diffaugment else x

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        n = real.shape[0]
        z = self._z(n)
        # Discriminator
        self.opt_d.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            fake = self.G(z)
            d_real = self.D(self._aug(real)).float()
            d_fake = self.D(self._aug(fake.detach())).float()
            loss_d = self.d_loss(d_real, d_fake)
        self.scaler.scale(loss_d).backward()
        out = {"loss_d": loss_d.detach()}
        if self.m.r1_gamma > 0 and step % self.m.r1_every == 0:
            x = real.detach().requires_grad_(True)
            with autocast(self.device, self.amp):
                logits = self.D(self._aug(x)).float()
            r1 = losses.r1_penalty(logits, x)
            self.scaler.scale(r1 * (0.5 * self.m.r1_gamma * self.m.r1_every)).backward()
            out["r1"] = r1.detach()
        self.scaler.step(self.opt_d)
        # Generator
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with autocast(self.device, self.amp):
            loss_g = self.g_loss(self.D(self._aug(fake)).float())
        self.scaler.scale(loss_g).backward()
        self.D.requires_grad_(True)
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


class VAERecipe:
    """Encoder + decoder, reconstruction + beta * KL, EMA of the whole VAE."""

    family = "vae"

    def __init__(self, cfg: TrainConfig, device: torch.device, amp: torch.dtype | None):
        from .models.vae import VAE

        m = cfg.model
        self.cfg, self.m, self.device, self.amp = cfg, m, device, amp
        self.vae = VAE(m).to(device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.vae).requires_grad_(False)
        self.opt = adam(self.vae.parameters(), m.lr, (m.beta1, m.beta2), device)
        self.g_eps = torch.Generator().manual_seed(cfg.seed + 1)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            mu, logvar = self.vae.encoder(real)
            eps = torch.randn(mu.shape, generator=self.g_eps).to(self.device)
            z = mu + eps * torch.exp(0.5 * logvar)
            recon = self.vae.decoder(z)
        rec = losses.reconstruction(recon, real, self.m.recon)
        kl = losses.kl_divergence(mu, logvar)
        loss = rec + self.m.beta * kl
        self.scaler.scale(loss).backward()
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


class RestoreRecipe:
    """U-Net + PatchGAN: L1 reconstruction + a small hinge adversarial term + feature matching.

    Subclasses say what the network sees (``inputs``), what it predicts, and what the
    discriminator compares (``d_views``).
    """

    d_channels = 3

    def __init__(self, cfg: TrainConfig, device: torch.device, amp: torch.dtype | None):
        from .models import build_inference_model
        from .models.patchgan import PatchGAN

        m = cfg.model
        self.cfg, self.m, self.device, self.amp = cfg, m, device, amp
        self.G = build_inference_model(cfg.family, m).to(device, memory_format=torch.channels_last)
        self.D = PatchGAN(self.d_channels, m.ndf).to(device, memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.G).requires_grad_(False)
        self.opt_g = adam(self.G.parameters(), m.lr_g, (m.beta1, m.beta2), device)
        self.opt_d = adam(self.D.parameters(), m.lr_d, (m.beta1, m.beta2), device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp == torch.float16)
        self.preview: torch.Tensor | None = None  # (8, 3, S, S) fixed images for sample grids

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = self.inputs(real, step)
        with autocast(self.device, self.amp):
            pred = self.predict(self.G, batch)
            real_v, fake_v = self.d_views(batch, pred)
        self.opt_d.zero_grad(set_to_none=True)
        with autocast(self.device, self.amp):
            d_real, _ = self.D(real_v)
            d_fake, _ = self.D(fake_v.detach())
            loss_d = losses.d_loss_hinge(d_real.float(), d_fake.float())
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_d)
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)
        with autocast(self.device, self.amp):
            g_fake, f_fake = self.D(fake_v)
            with torch.no_grad():
                _, f_real = self.D(real_v)
            adv = losses.g_loss_hinge(g_fake.float())
            fm = losses.feature_matching(f_fake, f_real)
        rec = self.reconstruction(batch, pred)
        loss_g = rec + self.m.adv_weight * adv + self.m.fm_weight * fm
        self.scaler.scale(loss_g).backward()
        self.D.requires_grad_(True)
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
        seed = self.cfg.seed
        masks = np.stack(
            [mixed_mask(h, w, np.random.default_rng([seed, step, i]), weights) for i in range(n)]
        )
        mask = torch.from_numpy(masks).to(self.device).unsqueeze(1).float()
        return {"real": real, "mask": mask.contiguous(memory_format=torch.channels_last)}

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
            "lum": lum.contiguous(memory_format=torch.channels_last),
            "ab": ab.contiguous(memory_format=torch.channels_last),
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


def _save_run(path: Path, recipe, sampler: BatchSampler, cfg: TrainConfig, step: int, wall: float):
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in recipe.modules().items():
        for k, v in mod.state_dict().items():
            tensors[f"{prefix}.{k}"] = v
    optim_meta = {}
    for name, opt in recipe.optimizers().items():
        t, rest = optimizer_to_tensors(opt, f"optim.{name}")
        tensors.update(t)
        optim_meta[name] = rest
    for name, g in recipe.generators().items():
        tensors[f"rng.{name}"] = g.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
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
            "rng_host": _rng_meta(),
            "wall_seconds": f"{wall:.1f}",
        },
    )


def _load_run(path: Path, recipe, sampler: BatchSampler) -> tuple[int, float]:
    ck = load_checkpoint(path)
    for prefix, mod in recipe.modules().items():
        try:
            mod.load_state_dict(ck.group(prefix))
        except RuntimeError as exc:
            raise UserError(f"{path}: weights do not fit this config ({str(exc)[:200]})") from None
    optim_meta = json.loads(ck.meta["optim"])
    for name, opt in recipe.optimizers().items():
        optimizer_from_tensors(opt, ck.tensors, f"optim.{name}", optim_meta[name])
    for name, g in recipe.generators().items():
        g.set_state(ck.tensors[f"rng.{name}"])
    torch.set_rng_state(ck.tensors["rng.torch"])
    sampler.load_state(ck.group("sampler"))
    _restore_rng_meta(ck.meta["rng_host"])
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
    """
    from tqdm import tqdm

    cfg = resolve_config(config, **overrides)
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
    run_dir.mkdir(parents=True, exist_ok=True)

    device = resolve_device(cfg.device)
    amp = autocast_dtype(device, cfg.precision)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    if images is None:
        images = load_training_images(cfg.data, cfg.model.size, progress=progress)
    if images.shape[1:] != (cfg.model.size, cfg.model.size, 3):
        raise UserError(f"training images are {images.shape[1:]}, expected {cfg.model.size}px RGB")
    data = torch.from_numpy(np.array(images, dtype=np.uint8))  # a private, writable copy
    if device.type == "cuda":
        data = data.pin_memory()
    sampler = BatchSampler(data, cfg.batch, cfg.seed, cfg.data.hflip)
    recipe = RECIPES[cfg.family](cfg, device, amp)
    if hasattr(recipe, "preview"):
        recipe.preview = BatchSampler(data[:8], 8, 0, False).next(device)

    start, wall_before = 0, 0.0
    if resume:
        start, wall_before = _load_run(ckpt_path, recipe, sampler)
    (run_dir / "config.json").write_text(cfg.to_json())
    last_save = start
    t0 = time.perf_counter()
    t_window, n_window = t0, 0
    bar = tqdm(
        range(start + 1, cfg.steps + 1),
        initial=start,
        total=cfg.steps,
        disable=not progress,
        desc=f"train {cfg.family}",
        unit="step",
        dynamic_ncols=True,
    )
    with open(run_dir / "log.txt", "a") as log_file, bar:
        log_file.write(
            f"# {'resume' if resume else 'start'} at step {start} on {device} amp={amp}\n"
        )
        for step in bar:
            stats = recipe.step(step, sampler.next(device))
            n_window += sampler.batch
            if step % cfg.log_every == 0 or step == cfg.steps:
                _check_finite(step, stats, run_dir, last_save)
                now = time.perf_counter()
                ips = n_window / max(now - t_window, 1e-9)
                t_window, n_window = now, 0
                bar.set_postfix(
                    **{k: f"{float(v):.3f}" for k, v in stats.items()}, img_s=f"{ips:.0f}"
                )
                row = {
                    "step": step,
                    **{k: float(v) for k, v in stats.items()},
                    "img_s": round(ips, 1),
                }
                log_file.write(json.dumps(row) + "\n")
                log_file.flush()
            if step % cfg.sample_every == 0 or step == cfg.steps:
                grid = image_grid(tensor_to_pil(recipe.samples(64)), cols=8)
                save_image(grid, run_dir / f"samples-{step:07d}.png")
            if step % cfg.save_every == 0 or step == cfg.steps:
                _check_finite(step, stats, run_dir, last_save)
                wall = wall_before + time.perf_counter() - t0
                _save_run(ckpt_path, recipe, sampler, cfg, step, wall)
                last_save = step
    return run_dir


def inference_checkpoint(run_dir: str | os.PathLike, card: dict | None = None) -> Checkpoint:
    """A run's EMA network (standing BN stats) as an in-memory inference checkpoint (fp32)."""
    run_dir = Path(run_dir)
    ck = load_checkpoint(run_dir / CHECKPOINT)
    if "train_config" not in ck.meta:
        raise UserError(f"{run_dir / CHECKPOINT}: not a training run checkpoint")
    cfg = train_config_from_dict(json.loads(ck.meta["train_config"]))
    recipe = RECIPES[cfg.family](cfg, torch.device("cpu"), None)
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
