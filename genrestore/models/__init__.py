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


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm2d into the (transposed) convolution right before it.

    Returns a copy with the BN layers replaced by Identity: the same function in eval mode,
    with fewer passes over memory at inference. Only direct conv -> BN pairs inside
    nn.Sequential containers are folded; anything else is left as it is.
    """
    import copy

    import torch

    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        layers = list(seq)
        for i in range(len(layers) - 1):
            conv, bn = layers[i], layers[i + 1]
            if not isinstance(bn, nn.BatchNorm2d) or not isinstance(
                conv, (nn.Conv2d, nn.ConvTranspose2d)
            ):
                continue
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            shift = bn.bias.detach() - bn.running_mean * scale
            w = conv.weight.detach()
            # Conv2d weight: (out, in, k, k); ConvTranspose2d weight: (in, out, k, k).
            view = (-1, 1, 1, 1) if isinstance(conv, nn.Conv2d) else (1, -1, 1, 1)
            conv.weight = nn.Parameter(w * scale.view(view), requires_grad=False)
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(shift)
            conv.bias = nn.Parameter(bias * scale + shift, requires_grad=False)
            seq[i + 1] = nn.Identity()
    return model
