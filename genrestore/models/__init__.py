"""Networks by role (gan, vae, unet, patchgan) and the helpers every inference path shares."""

from __future__ import annotations

import torch
from torch import nn


def build_inference_model(family: str, cfg) -> nn.Module:
    """The network a task runs (GAN generator, whole VAE, a restoration U-Net), untrained."""
    from ..families import family as get_family

    return get_family(family).build_network(cfg)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, sample_input, batches: int = 16) -> None:
    """Standing statistics: recompute the BN running stats of ``model`` from fresh batches.

    ``sample_input(i)`` gives the i-th input batch. EMA weights never ran forward in
    training, so the live model's running stats do not fit them; re-estimating them
    (BigGAN's "standing stats") makes eval-mode samples match train-mode quality and makes
    sampling independent of the batch.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    was_training = model.training
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    model.train()
    for i in range(batches):
        model(sample_input(i))
    for bn, m in zip(bns, momenta):
        bn.momentum = m
    model.train(was_training)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm2d into the (transposed) convolution right before it.

    Returns a copy with the BN layers replaced by Identity: the same function in eval mode,
    with fewer passes over memory at inference. Only direct conv -> BN pairs inside
    nn.Sequential containers are folded; anything else is left as it is.
    """
    import copy

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
