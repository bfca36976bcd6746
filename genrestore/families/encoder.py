"""Encoder family: a completion encoder trained against a frozen, shipped generator.

It learns q(z | visible pixels) from the generator's own samples (unlimited training pairs),
so completing a face is one forward pass of the encoder and one of the generator instead of a
search.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import DataConfig, TrainConfig
from . import Family

# "keep" windows/quarters/halves, the named regions (eyes, mouth, halves), large damage and
# strokes: from "only the left eye is visible" to "most of the face is there".
COMPLETION_MIX = "region:0.45,keep:0.25,large:0.2,stroke:0.05,box:0.05"


@dataclass(frozen=True)
class EncoderConfig:
    size: int = 64  # the generator's image size
    nz: int = 100  # the generator's latent size
    nf: int = 32  # encoder width at full resolution (doubles per level, at most 8x)
    generator: str = "faces-gan-64"  # the frozen generator it inverts (name or path)
    masks: str = COMPLETION_MIX  # training mask mix (data/masks.py kinds + "region")
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.99
    ema_decay: float = 0.999


def _encoder(batch: int = 64, **kw) -> TrainConfig:
    # The encoder trains on the generator's samples; no images are read.
    return TrainConfig(
        family="encoder", model=EncoderConfig(**kw), batch=batch, data=DataConfig(count=0)
    )


FAMILY = Family(
    name="encoder",
    summary="one-pass completion: q(z | visible pixels) for a frozen generator",
    config=EncoderConfig,
    presets={
        "encoder-64": _encoder(),
        "encoder-vae-64": _encoder(nz=128, generator="faces-vae-64"),
    },
    network="genrestore.models.encoder:CompletionEncoder",
    task="genrestore.tasks.complete:LatentEncoder",
    recipe="genrestore.training.recipes.encoder:EncoderRecipe",
    evaluations={},
    shipped="",
)
