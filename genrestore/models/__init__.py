"""Model registry: family name -> the network(s) its config builds."""

from __future__ import annotations

from torch import nn

from ..errors import UserError


def build_inference_model(family: str, cfg) -> nn.Module:
    """The network a task runs: GAN generator, whole VAE, or a restoration U-Net."""
    if family == "gan":
        from .gan import Generator

        return Generator(cfg)
    if family == "vae":
        from .vae import VAE

        return VAE(cfg)
    if family == "inpaint":
        from .unet import Inpainter

        return Inpainter(cfg)
    if family == "colorize":
        from .unet import Colorizer

        return Colorizer(cfg)
    raise UserError(f"unknown model family {family!r}; known: gan, vae, inpaint, colorize")
