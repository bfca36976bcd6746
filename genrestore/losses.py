"""Loss functions: pure functions of tensors, no state, no modules.

Shapes: logits (N,), images (N, C, H, W), masks (N, 1, H, W) with 1 = missing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN discriminator loss (BCE on logits), averaged over the batch."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_bce(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return F.softplus(-fake_logits).mean()


def d_loss_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_loss_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


GAN_LOSSES = {"bce": (d_loss_bce, g_loss_bce), "hinge": (d_loss_hinge, g_loss_hinge)}


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1: mean squared gradient norm of D's output w.r.t. real images (which need grad)."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real_images, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) summed over latent dimensions, averaged over the batch. (N, nz)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


# Pointwise reconstruction errors a config may name: "l1" (absolute: the median of the
# plausible answers) or "mse" (squared: their mean, the PSNR-optimal answer).
ERROR_KINDS = ("l1", "mse")


def check_error_kind(what: str, kind: str) -> None:
    """Raise ValueError unless ``kind`` is one of ``ERROR_KINDS`` (``what``: for the message)."""
    if kind not in ERROR_KINDS:
        raise ValueError(f"{what} must be {' or '.join(map(repr, ERROR_KINDS))}, got {kind!r}")


def pointwise_error(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """|pred - target| ("l1") or (pred - target)^2 ("mse"), in fp32; same shape."""
    diff = pred.float() - target.float()
    return diff.abs() if kind == "l1" else diff.pow(2)


def reconstruction(pred: torch.Tensor, target: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Per-image summed reconstruction error, averaged over the batch."""
    return pointwise_error(pred, target, kind).flatten(1).sum(1).mean()


def masked_error(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str = "l1"
) -> torch.Tensor:
    """Mean absolute ("l1") or squared ("mse") error over the pixels where ``mask`` is 1.

    pred, target (N, C, H, W); mask (N, 1, H, W). Scalar."""
    m = mask.expand_as(pred).float()
    return (pointwise_error(pred, target, kind) * m).sum() / m.sum().clamp_min(1.0)


def feature_matching(
    fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]
) -> torch.Tensor:
    """Mean L1 between discriminator features of fake and (detached) real inputs."""
    terms = [(f.float() - r.detach().float()).abs().mean() for f, r in zip(fake_feats, real_feats)]
    return torch.stack(terms).mean()
