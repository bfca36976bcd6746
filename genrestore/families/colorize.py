"""Colorize family: L -> ab in Lab, a U-Net trained against a PatchGAN."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainConfig
from . import Family


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


FAMILY = Family(
    name="colorize",
    summary="L -> ab in Lab: U-Net + PatchGAN (L1, hinge, feature matching)",
    config=ColorizeConfig,
    presets={"colorize-64": TrainConfig(family="colorize", model=ColorizeConfig(), batch=32)},
    network="genrestore.models.unet:ColorizeUNet",
    task="genrestore.tasks.restore:Colorizer",
    recipe="genrestore.training.recipes.restore:ColorizeRecipe",
    evaluations={"colorize": "genrestore.evaluate:evaluate_colorizer"},
    shipped="faces-colorize-64",
)
