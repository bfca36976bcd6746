"""VAE family: a convolutional variational autoencoder learns p(face) with an encoder."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TrainConfig
from ..losses import check_error_kind
from . import Family


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

    def __post_init__(self):
        check_error_kind("vae recon", self.recon)


FAMILY = Family(
    name="vae",
    summary="p(face) with an encoder: conv VAE (reconstruction + beta * KL, EMA)",
    config=VAEConfig,
    presets={
        # nf=48 keeps the fp16 export (encoder + decoder) near 11 MB, under the 15 MB budget.
        "vae-64": TrainConfig(family="vae", model=VAEConfig(nf=48), batch=64),
        "vae-32": TrainConfig(family="vae", model=VAEConfig(size=32, nf=32), batch=64),
    },
    network="genrestore.models.vae:VAE",
    task="genrestore.tasks.generate:Generator",
    recipe="genrestore.training.recipes.vae:VAERecipe",
    evaluations={
        "vae": "genrestore.evaluate:evaluate_generator",
        "complete": "genrestore.evaluate:evaluate_completer",
    },
    shipped="faces-vae-64",
)
