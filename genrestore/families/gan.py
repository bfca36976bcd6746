"""GAN family: a DCGAN-shaped generator learns p(face) against a discriminator."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainConfig
from . import Family


@dataclass(frozen=True)
class GANConfig:
    size: int = 64  # output side in pixels (a power of two, 16..256)
    nz: int = 100  # latent dimension
    ngf: int = 64  # generator width (channels at the last layer)
    # how the generator doubles its side: "transposed" (DCGAN: stride-2 transposed convs)
    # or "resize" (nearest upsample + 3x3 conv: no checkerboard, ~2x the generator's compute)
    g_upsample: str = "transposed"
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
    # Fine-tuning: start G and its EMA from this generator (a shipped name or a .safetensors
    # of the same shape; the EMA then averages at ema_decay from step 0), D from scratch;
    # for the first d_warmup steps only D trains, so a fresh D does not push G around.
    init: str = ""
    d_warmup: int = 500  # only with init
    # The discriminator judges the images blurred and halved this many times (a Laplacian
    # pyramid's low-pass, metrics.laplacian_pyramid): 0 sees them whole; 1 sees a 64-px
    # face at 32 px, its layout and colours but not its finest detail. A 500-step fine-tune
    # of faces-gan-64 with 1 lowered the coarse levels' SWD but not the finest (README,
    # "A critic of the low-pass only"), so it is not shipped.
    d_levels: int = 0

    def __post_init__(self):
        if self.d_warmup < 0:
            raise ValueError(f"gan: d_warmup must be 0 or more, got {self.d_warmup}")
        if self.d_levels < 0:
            raise ValueError(f"gan: d_levels must be 0 or more, got {self.d_levels}")
        if self.size >> self.d_levels < 16:
            raise ValueError(
                f"gan: d_levels must leave the discriminator at least 16 px "
                f"({self.size} px halved {self.d_levels} times is {self.size >> self.d_levels})"
            )
        if self.g_upsample not in ("transposed", "resize"):
            raise ValueError(
                f"gan: g_upsample must be 'transposed' or 'resize', got {self.g_upsample!r}"
            )


def _gan(**kw) -> TrainConfig:
    return TrainConfig(family="gan", model=GANConfig(**kw))


_IMPROVED = {"d_norm": "spectral", "loss": "hinge", "beta1": 0.0, "beta2": 0.99}

FAMILY = Family(
    name="gan",
    summary="p(face): generator + discriminator (DCGAN shapes, spectral norm, hinge, R1, EMA)",
    config=GANConfig,
    presets={
        # Improved (the default): spectral-norm D, hinge loss, lazy R1, Adam betas (0, 0.99).
        "gan-64": _gan(r1_gamma=0.2, **_IMPROVED),
        # Layer shapes of pytorch/examples DCGAN (nz=100, ngf=ndf=64, BN, BCE, Adam 2e-4 / 0.5),
        # plus this project's recipe: DiffAugment and EMA.
        "dcgan-64": _gan(),
        "gan-32": _gan(size=32, r1_gamma=0.1, **_IMPROVED),
        "gan-128": _gan(size=128, ngf=48, ndf=48, r1_gamma=0.5, **_IMPROVED),
    },
    network="genrestore.models.gan:GANGenerator",
    task="genrestore.tasks.generate:Generator",
    recipe="genrestore.training.recipes.gan:GANRecipe",
    evaluations={
        "gan": "genrestore.evaluate:evaluate_generator",
        "complete": "genrestore.evaluate:evaluate_completer",
    },
    shipped="faces-gan-64",
    init_fields=("size", "nz", "ngf", "g_upsample"),  # the generator's; D starts fresh
)
