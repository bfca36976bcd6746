"""Inpaint family: image + mask -> image, a gated U-Net trained against a PatchGAN."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import DataConfig, TrainConfig
from ..data.masks import DEFAULT_MIX
from ..losses import check_error_kind
from . import PHOTO_NATIVE, Family


@dataclass(frozen=True)
class InpaintConfig:
    size: int = 64  # the network's working size (native: the training crops' size)
    native: bool = False  # fully convolutional at each image's own size (see tasks/restore.py)
    coarse: int = 256  # native: the coarse-to-fine pyramid starts at this long side
    # native: px of known context around the hole above the coarsest level (0: all)
    context: int = 48
    # native: fine texture copied into the fill, its detail as a fraction of the known
    # pixels' around the hole (0: none; tasks/texture.py)
    texture: float = 0.0
    nf: int = 16  # width at full resolution (doubles per level, at most 8x)
    depth: int = 3  # down-sampling levels of the U-Net
    n_res: int = 3  # dilated residual blocks at the bottleneck
    gated: bool = True  # gated convolutions (DeepFill v2) in the encoder and decoder
    hole_weight: float = 6.0  # loss weight on missing pixels (known pixels weigh 1)
    # "l1" or "mse": the reconstruction loss (mse: the mean of the plausible fills, the
    # PSNR-optimal answer; l1 picks their median, a wrong guess where they differ a lot)
    loss: str = "l1"
    adv_weight: float = 0.01  # PatchGAN hinge loss weight for the generator
    fm_weight: float = 0.1  # discriminator feature-matching weight
    ndf: int = 32  # PatchGAN width
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.999
    masks: str = DEFAULT_MIX  # training mask mix, "kind:weight,..." (data/masks.py)

    def __post_init__(self):
        check_error_kind("inpaint loss", self.loss)


# How much fine texture a photo inpainter copies into its fill: the fill's mean |Laplacian|
# as a fraction of the known pixels' within 8 px of the hole (tasks/texture.py). 0.9 is the
# smallest of 0.8, 0.9, 1.0 whose fills reach 0.8 of the photo's fine detail on the 10
# validation photos (box 0.83, strokes 0.93; 0.8 gave 0.75 / 0.83, 1.0 0.90 / 1.01 at 0.02 /
# 0.04 dB less). The fixed gain used before (1.1 x the copied band) cost the same PSNR for
# box 0.86 / strokes 0.87 on average, but matched its own photo's detail worse: the mean
# |log(fill detail)| was 0.41 / 0.30 for it, 0.24 / 0.27 matched (test photos: 0.48 / 0.23
# vs 0.16 / 0.18, with 0.04 dB less on boxes, 0.02 dB more on strokes).
PHOTO_TEXTURE = 0.9

FAMILY = Family(
    name="inpaint",
    summary="image + mask -> image: gated U-Net + PatchGAN (masked L1, hinge, feature matching)",
    config=InpaintConfig,
    presets={
        "inpaint-64": TrainConfig(family="inpaint", model=InpaintConfig(), batch=32),
        # Natural photos at their own size: plain convolutions (the hole is pre-filled, so
        # every input pixel is valid); the reconstruction loss only (the PatchGAN did not
        # add detail in 500 steps and cost 35 % of a step), MSE: L1-trained runs scored
        # 0.13-0.18 dB under their own starting point, the smooth fill, on validation boxes.
        "photo-inpaint": TrainConfig(
            family="inpaint",
            model=InpaintConfig(**PHOTO_NATIVE, gated=False, texture=PHOTO_TEXTURE, loss="mse"),
            data=DataConfig(source="photos"),
            batch=16,
        ),
    },
    network="genrestore.models.unet:InpaintUNet",
    task="genrestore.tasks.restore:Inpainter",
    recipe="genrestore.training.recipes.restore:InpaintRecipe",
    evaluations={"inpaint": "genrestore.evaluate:evaluate_inpainter"},
    shipped="faces-inpaint-64",
    shipped_photo="photos-inpaint",
)
