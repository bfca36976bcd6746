"""Model registry: family name -> the network(s) its config builds."""

from __future__ import annotations

from torch import nn

from ..errors import UserError


def build_inference_model(family: str, cfg) -> nn.Module:
    """The network a task runs: the GAN generator, or the whole VAE."""
    if family == "gan":
        from .gan import Generator

        return Generator(cfg)
    if family == "vae":
        from .vae import VAE

        return VAE(cfg)
    raise UserError(f"unknown model family {family!r}; known: gan, vae")
