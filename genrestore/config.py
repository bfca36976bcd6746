"""Frozen dataclass configs for every model family and for training, with presets in code.

One source of defaults: the CLI, the API and the checkpoints all read these dataclasses.
A config is saved inside every checkpoint as JSON, so loading needs nothing but the file.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError

SIZES = (16, 32, 64, 128, 256)


@dataclass(frozen=True)
class DataConfig:
    source: str = "avatars"  # "avatars" (built-in faces) or a folder path
    count: int = 20_000  # built-in faces to train on (indices [0, count)); ignored for folders
    hflip: bool = True  # random horizontal flips of real images


@dataclass(frozen=True)
class GANConfig:
    size: int = 64  # output side in pixels (a power of two, 16..256)
    nz: int = 100  # latent dimension
    ngf: int = 64  # generator width (channels at the last layer)
    ndf: int = 64  # discriminator width (channels at the first layer)
    d_norm: str = "batch"  # discriminator normalization: "batch" (DCGAN) or "spectral"
    loss: str = "bce"  # "bce" (non-saturating, DCGAN) or "hinge"
    r1_gamma: float = 0.0  # R1 penalty weight on real images (0 = off)
    r1_every: int = 4  # lazy R1: apply every N steps, scaled by N
    diffaugment: str = "translation,cutout,color"  # DiffAugment policy, "" = off
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.999  # EMA of the generator used for sampling
    truncation: float = 1.0  # default sampling truncation (1 = none)


@dataclass(frozen=True)
class VAEConfig:
    size: int = 64
    nz: int = 128  # latent dimension
    nf: int = 64  # width
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    recon: str = "l1"  # reconstruction loss: "l1" or "mse" (summed over pixels)
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    ema_decay: float = 0.999


@dataclass(frozen=True)
class InpaintConfig:
    size: int = 64  # the network's working size; any input size is mapped to it and back
    nf: int = 16  # width at full resolution (doubles per level, at most 8x)
    depth: int = 3  # down-sampling levels of the U-Net
    n_res: int = 3  # dilated residual blocks at the bottleneck
    gated: bool = True  # gated convolutions (DeepFill v2) in the encoder and decoder
    hole_weight: float = 6.0  # L1 weight on missing pixels (known pixels weigh 1)
    adv_weight: float = 0.01  # PatchGAN hinge loss weight for the generator
    fm_weight: float = 0.1  # discriminator feature-matching weight
    ndf: int = 32  # PatchGAN width
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.999
    masks: str = "box:0.3,stroke:0.3,large:0.3,keep:0.1"  # training mask mix (data/masks.py)


@dataclass(frozen=True)
class ColorizeConfig:
    size: int = 64
    nf: int = 24
    depth: int = 3
    n_res: int = 3
    gated: bool = False
    adv_weight: float = 0.01
    fm_weight: float = 0.1
    ndf: int = 32
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.999


ModelConfig = GANConfig | VAEConfig | InpaintConfig | ColorizeConfig
FAMILIES: dict[str, type] = {
    "gan": GANConfig,
    "vae": VAEConfig,
    "inpaint": InpaintConfig,
    "colorize": ColorizeConfig,
}


@dataclass(frozen=True)
class TrainConfig:
    family: str = "gan"  # which model family: see FAMILIES
    model: Any = field(default_factory=GANConfig)  # the family's config
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 10_000  # optimizer steps (of the generator, for GANs)
    batch: int = 64
    save_every: int = 500  # checkpoint every N steps (and at the end)
    sample_every: int = 500  # sample grid every N steps
    log_every: int = 50
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto" (bf16 on CPU, AMP on CUDA), "fp32", "bf16"
    out: str = ""  # run directory; "" = runs/<family>-<size>-<time>

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def model_config_from_dict(family: str, d: dict) -> ModelConfig:
    """Rebuild a family config from JSON; unknown keys are an error (a foreign or newer file)."""
    if family not in FAMILIES:
        raise UserError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    cls = FAMILIES[family]
    names = {f.name for f in dataclasses.fields(cls)}
    extra = set(d) - names
    if extra:
        raise UserError(f"{family} config has unknown fields {sorted(extra)}")
    return cls(**d)


def train_config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    family = d.get("family", "gan")
    d["model"] = model_config_from_dict(family, d.get("model", {}))
    d["data"] = DataConfig(**d.get("data", {}))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    extra = set(d) - names
    if extra:
        raise UserError(f"train config has unknown fields {sorted(extra)}")
    return TrainConfig(**d)


def _gan(**kw) -> TrainConfig:
    return TrainConfig(family="gan", model=GANConfig(**kw))


PRESETS: dict[str, TrainConfig] = {
    # Layer shapes of pytorch/examples DCGAN (nz=100, ngf=ndf=64, BN, BCE, Adam 2e-4 / 0.5),
    # plus this project's recipe: DiffAugment, EMA, bf16 on CPU.
    "dcgan-64": _gan(),
    # Improved: spectral-norm discriminator, hinge loss, lazy R1, Adam betas (0.0, 0.99).
    "gan-64": _gan(d_norm="spectral", loss="hinge", r1_gamma=0.2, beta1=0.0, beta2=0.99),
    "gan-32": _gan(size=32, d_norm="spectral", loss="hinge", r1_gamma=0.1, beta1=0.0, beta2=0.99),
    "gan-128": _gan(
        size=128,
        ngf=48,
        ndf=48,
        d_norm="spectral",
        loss="hinge",
        r1_gamma=0.5,
        beta1=0.0,
        beta2=0.99,
    ),
    # nf=48 keeps the fp16 export (encoder + decoder) near 11 MB, under the 15 MB budget.
    "vae-64": TrainConfig(family="vae", model=VAEConfig(nf=48), batch=64),
    "vae-32": TrainConfig(family="vae", model=VAEConfig(size=32, nf=32), batch=64),
    "inpaint-64": TrainConfig(family="inpaint", model=InpaintConfig(), batch=32),
    "colorize-64": TrainConfig(family="colorize", model=ColorizeConfig(), batch=32),
}

DEFAULT_PRESET = {
    "gan": "gan-64",
    "vae": "vae-64",
    "inpaint": "inpaint-64",
    "colorize": "colorize-64",
}


def preset(name: str) -> TrainConfig:
    """A preset by name, with a clear error listing the known ones."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]


def with_size(cfg: TrainConfig, size: int) -> TrainConfig:
    """The same config at another image size."""
    if size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(map(str, SIZES))}, got {size}")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, size=size))
