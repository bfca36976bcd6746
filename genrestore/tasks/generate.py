"""Sampling faces from a learned distribution: GAN generators and VAE decoders."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..compute import Compute
from ..errors import UserError
from ..images import tensor_to_pil
from ..models import fold_batchnorm, recalibrate_batchnorm
from .base import Task, finite


def latents(n: int, nz: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """(n, nz) standard-normal latents; row i depends only on (seed, i)."""
    if seed < 0:  # numpy's seed sequence refuses negative entries with a bare ValueError
        raise UserError(f"seed must be 0 or more, got {seed}")
    z = np.stack([np.random.default_rng([seed, i]).standard_normal(nz) for i in range(n)])
    return torch.from_numpy(z).float() * float(truncation)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (nz,) at times t (T,) -> (T, nz)."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def _check_size(size: int | None) -> None:
    if size is not None and not 16 <= size <= 1024:
        raise UserError(f"face size must be between 16 and 1024 px, got {size}")


class Generator(Task):
    """Samples faces from a learned distribution (a GAN generator or a VAE decoder).

    ``generate(n, seed)`` -> list of PIL images; face i of a seed is always the same face.
    """

    def __init__(self, model: torch.nn.Module, family: str, config, card: dict, name: str = "",
                 compute: Compute | None = None):  # fmt: skip
        super().__init__(model, family, config, card, name, compute)
        self.nz = config.nz
        # Inference copy of the decoder: BN folded into the convolutions, in the layout and
        # precision measured fastest on this machine.
        decoder = getattr(model, "decoder", model)  # a VAE samples through its decoder
        self.fast = self.compute.layout(fold_batchnorm(decoder))

    @staticmethod
    def standing_stats(model: torch.nn.Module, config) -> None:
        """Recompute the decoder's BN statistics for EMA weights from fixed random latents:
        16 batches of 256 (4,096 faces; with 1,024, the six-draw validation SWD of
        faces-gan-64 at 256 px moved by 0.35 between two seeds of them)."""
        decoder = getattr(model, "decoder", model)  # a VAE samples through its decoder
        g = torch.Generator().manual_seed(12345)
        device = next(model.parameters()).device
        with torch.no_grad():
            recalibrate_batchnorm(
                decoder, lambda i: torch.randn(256, config.nz, generator=g).to(device)
            )
        model.eval()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, nz) -> images (N, 3, S, S), float32, differentiable w.r.t. z."""
        with self.compute.autocast():
            return self.fast(z.to(self.device)).float()

    @torch.inference_mode()
    def sample(self, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Latents (N, nz) -> images (N, 3, size, size) in [-1, 1]."""
        outs = [self.forward(z[i : i + batch]) for i in range(0, z.shape[0], batch)]
        return finite(torch.cat(outs))

    def generate(
        self, n: int = 16, seed: int = 0, truncation: float | None = None, size: int | None = None
    ) -> list[Image.Image]:
        """``n`` faces for ``seed``; ``truncation`` in (0, 2] scales the latents (below 1: less
        variety; the model's own default if None).

        ``size``: the faces' side, by default ``default_size`` (256 for the shipped 64-px
        models); a side at least twice the model's is drawn by the shipped upscaler where
        there is one (``Task.larger``), and any rest is a resize.
        """
        if not 1 <= n <= 10_000:
            raise UserError(f"number of faces must be between 1 and 10000, got {n}")
        t = self.truncation(truncation)
        _check_size(size)
        faces = self.sample(latents(n, self.nz, seed, t))
        return tensor_to_pil(self.at_size(faces, size or self.default_size))

    @property
    def default_size(self) -> int:
        """The side ``generate`` and ``interpolate`` draw at by default: the shipped
        upscaler's (256 for the 64-px faces) where one serves this model, else its own."""
        up = self.upscaler
        return up.size if up is not None and up.size == self.size * up.factor else self.size

    def at_size(self, faces: torch.Tensor, size: int, batch: int = 64) -> torch.Tensor:
        """(N, 3, S, S) samples -> (N, 3, size, size): the shipped upscaler's where there is
        one and ``size`` is at least twice S (``Task.larger``), then any rest resized."""
        if size == faces.shape[-1]:
            return faces
        faces = torch.cat(
            [self.larger(faces[i : i + batch], size) for i in range(0, len(faces), batch)]
        )
        if size != faces.shape[-1]:
            down = size < faces.shape[-1]
            faces = F.interpolate(
                faces, size=(size, size), mode="bicubic", antialias=down, align_corners=False
            ).clamp(-1, 1)
        return faces

    def truncation(self, truncation: float | None = None) -> float:
        """The latent scale to sample at: ``truncation`` if given (it must be in (0, 2]),
        else the model's own default (1 unless its config says otherwise)."""
        t = float(getattr(self.config, "truncation", 1.0)) if truncation is None else truncation
        if not 0 < t <= 2:
            raise UserError(f"truncation must be in (0, 2], got {t}")
        return float(t)

    @functools.cached_property
    def encoder(self):
        """The completion encoder shipped beside this model (a LatentEncoder), or None."""
        from .complete import companion_encoder

        return companion_encoder(self)

    def complete(self, image, mask=None, samples: int = 4, seed: int = 0) -> list[Image.Image]:
        """Whole faces that agree with the visible pixels of ``image``, best fit first.

        ``mask``: white = missing (same size as the image), a region name from
        ``KEEP_REGIONS`` (e.g. "left-eye"), or None to use the image's transparency.
        """
        from .complete import Completer

        return Completer(self)(image, mask, samples=samples, seed=seed)

    def interpolate(
        self, seed_a: int, seed_b: int, steps: int = 8, size: int | None = None
    ) -> list[Image.Image]:
        """``steps`` faces along the great circle from seed_a's first face to seed_b's, at
        ``size`` as ``generate`` draws them (default ``default_size``)."""
        if not 2 <= steps <= 256:
            raise UserError(f"interpolation steps must be between 2 and 256, got {steps}")
        _check_size(size)
        a = latents(1, self.nz, seed_a)[0]
        b = latents(1, self.nz, seed_b)[0]
        z = _slerp(a, b, torch.linspace(0, 1, steps))
        return tensor_to_pil(self.at_size(self.sample(z), size or self.default_size))
