"""Colorize family: L -> ab in Lab, a U-Net trained against a PatchGAN."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import DataConfig, TrainConfig
from ..losses import check_error_kind
from . import PHOTO_NATIVE, Family


@dataclass(frozen=True)
class ColorizeConfig:
    size: int = 64  # the network's working size (native: the training crops' size)
    native: bool = False  # fully convolutional: colour predicted at the image's aspect
    max_side: int = 384  # native: a/b are predicted at this long side at most, then upsampled
    loss: str = "l1"  # "l1" or "mse" on a/b (mse: the PSNR-optimal, more cautious colours)
    # predicted a/b are multiplied by this at inference: set at export from held-out photos
    # when a model trained on few photos is over-confident on unfamiliar ones
    chroma: float = 1.0
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

    def __post_init__(self):
        check_error_kind("colorize loss", self.loss)


FAMILY = Family(
    name="colorize",
    summary="L -> ab in Lab: U-Net + PatchGAN (L1, hinge, feature matching)",
    config=ColorizeConfig,
    presets={
        "colorize-64": TrainConfig(family="colorize", model=ColorizeConfig(), batch=32),
        # Natural photos: MSE, no adversary (a wrong vivid colour costs more than a muted one).
        "photo-colorize": TrainConfig(
            family="colorize",
            model=ColorizeConfig(**PHOTO_NATIVE, loss="mse"),
            data=DataConfig(source="photos"),
            batch=16,
        ),
    },
    network="genrestore.models.unet:ColorizeUNet",
    task="genrestore.tasks.restore:Colorizer",
    recipe="genrestore.training.recipes.restore:ColorizeRecipe",
    evaluations={"colorize": "genrestore.evaluate:evaluate_colorizer"},
    shipped="faces-colorize-64",
    shipped_photo="photos-colorize",
)
