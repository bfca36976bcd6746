"""Upscale family: 64-px faces to 256 px, the detail bicubic upscaling loses, learned."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import DataConfig, TrainConfig
from ..data.masks import DEFAULT_MIX
from . import Family

SHRINKS = ("box", "lanczos")


@dataclass(frozen=True)
class UpscaleConfig:
    size: int = 256  # side of the (high-resolution) training images
    factor: int = 4  # output side / input side: 64-px faces to 256 px
    crop: int = 128  # high-resolution side of the crop each training sample is cut to
    nf: int = 48  # width (every convolution runs at the low resolution)
    n_blocks: int = 6  # residual blocks
    # Guided (inpainting): the network also sees the image's known pixels and its hole at the
    # high resolution (pixel-unshuffled to the low one), and learns to draw the answers of
    # the face inpainter ``base`` (a shipped name) at the image's size around them.
    guided: bool = False
    base: str = ""
    masks: str = DEFAULT_MIX  # guided: the training holes, as the inpaint family's
    # start from this shipped upscaler's weights (guided: the extra inputs start at zero)
    init: str = ""
    # plain upscalers: the share of training inputs degraded first (mottled by smooth noise
    # and blurred, by random amounts; training/recipes/upscale.py), so that the upscaler also
    # cleans inputs that are not exact shrinks of a face, such as a generator's samples
    degrade: float = 0.0
    # how a training image is shrunk to the input's size: "box" (the mean of each factor x
    # factor block) or "lanczos" (PIL's, which draws the built-in faces at 64 px and every
    # folder image: the images a 64-px model learns, so also what it generates)
    shrink: str = "box"
    # guided, at inference: the drawn answer's fine detail (its difference from a 5x5
    # binomial blur) amplified by 1 + this; set at export from validation faces, as an
    # L1-trained fill is smoother than the face around it
    sharpen: float = 0.0
    # plain upscalers, at inference: the output's faint fine detail faded out (coring): each
    # of its two finest Laplacian levels (the 1-2 px and 2-4 px detail) is scaled by
    # a^4 / (a^4 + core^4), a its magnitude, so detail fainter than ``core`` (in [-1, 1]
    # units) goes and edges stay. The network draws a faint mottle into flat areas, more on
    # a generator's samples than on real faces; set at export from validation faces; 0: off
    core: float = 0.0
    # plain upscalers: a PatchGAN critic on the output crops (hinge loss at this weight, plus
    # its feature matching against the true crop at ``fm_weight``), for the fine detail an
    # L1 loss averages away; 0: L1 alone
    adv_weight: float = 0.0
    fm_weight: float = 0.0
    ndf: int = 32  # the PatchGAN's width
    lr_d: float = 2e-4
    lr: float = 5e-4
    beta1: float = 0.9
    beta2: float = 0.999
    ema_decay: float = 0.998

    def __post_init__(self):
        if self.size % self.factor or self.crop % self.factor or self.crop > self.size:
            raise ValueError(
                f"upscale: size ({self.size}) and crop ({self.crop}) must be multiples of "
                f"factor ({self.factor}), and crop at most size"
            )
        if self.guided and (self.adv_weight or self.fm_weight):
            raise ValueError("upscale: adv_weight and fm_weight are for plain upscalers")
        if self.guided and not self.base:
            raise ValueError("upscale: a guided upscaler needs the inpainter it refines (base)")
        if not 0.0 <= self.core < 1.0 or (self.core and self.guided):
            raise ValueError(
                f"upscale: core ({self.core}) is an amplitude from 0 to 1, for plain upscalers"
            )
        if self.shrink not in SHRINKS:
            raise ValueError(
                f"upscale: shrink must be one of {', '.join(SHRINKS)}, got {self.shrink!r}"
            )
        if not 0.0 <= self.degrade <= 1.0 or (self.degrade and self.guided):
            raise ValueError(
                f"upscale: degrade ({self.degrade}) is a share from 0 to 1, for plain upscalers"
            )


FAMILY = Family(
    name="upscale",
    summary="image -> 4x larger image: residual CNN over bicubic (L1, optional PatchGAN critic)",
    config=UpscaleConfig,
    presets={
        # 3,000 faces at 256 px (0.6 GB cached); each step sees 16 crops of 128 px, half of
        # them degraded: after 35,000 such steps generated faces drawn at 256 px came closer
        # to real ones (SWD on validation faces 19.9 -> 18.3) and shrunk real faces came back
        # sharper (+1.9 dB) than with the clean-input upscaler of 3,500 steps that
        # faces-upscale-256 started from.
        # It then trained 2,500 steps against a critic (adv_weight 0.01, fm_weight 0.1,
        # lr 2e-4, from itself): SWD 13.95 -> 13.43 on validation faces; and the shipped one
        # 3,000 more on Lanczos shrinks (from itself, a fresh critic): 13.44 -> 12.85, and
        # faces rendered at 64 px upscaled 32.9 -> 36.2 dB. So this preset shrinks by Lanczos.
        # Its file adds core=0.015 at export (faint detail faded; validation SWD 17.56 -> 17.01
        # on six draws of 256 generated faces).
        "upscale-256": TrainConfig(
            family="upscale",
            model=UpscaleConfig(degrade=0.5, shrink="lanczos"),
            data=DataConfig(count=3000),
            batch=16,
        ),
        # faces-inpaint-64's answers drawn at 256 px around the known pixels of the image
        # (on box shrinks as the shipped refiner was; it started from the upscaler shipped
        # before the Lanczos one, which init now names)
        "inpaint-refine-256": TrainConfig(
            family="upscale",
            model=UpscaleConfig(
                guided=True,
                base="faces-inpaint-64",
                masks="box:0.4,stroke:0.4,large:0.2",
                init="faces-upscale-256",
            ),
            data=DataConfig(count=3000),
            batch=16,
        ),
    },
    network="genrestore.models.upscale:UpscaleNet",
    task="genrestore.tasks.upscale:Upscaler",
    recipe="genrestore.training.recipes.upscale:UpscaleRecipe",
    evaluations={"upscale": "genrestore.evaluate:evaluate_upscaler"},
    shipped="faces-upscale-256",
    init_fields=("factor", "nf", "n_blocks"),  # a guided net may start from a plain one
)
