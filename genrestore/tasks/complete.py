"""Completion from a small visible region by searching a generator's latent space."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..checkpoint import weights_digest
from ..errors import UserError
from ..images import uint8_to_tensor
from .base import Task, composite, finite, open_image_and_mask
from .generate import Generator, latents
from .letterbox import from_model, letterbox, letterbox_box, mask_to_model

log = logging.getLogger("genrestore")


class LatentEncoder(Task):
    """A completion encoder: ``posterior(x, known)`` -> (mu, logvar) over a generator's z.

    Trained against one frozen generator (named in its config) on that generator's own
    samples; see ``genrestore.families.encoder``.
    """

    @torch.inference_mode()
    def posterior(self, x: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 3, S, S) in [-1, 1], known (N, 1, S, S) in {0, 1} -> (mu, logvar), each (N, nz)."""
        inp = torch.cat([x * known, known], 1).to(self.device)
        with self.compute.autocast():
            mu, logvar = self.model(self.compute.layout(inp))
        return mu.float(), logvar.float()


def companion_encoder(gen: Generator) -> LatentEncoder | None:
    """The completion encoder shipped beside ``gen`` (``NAME-encoder.safetensors`` next to
    ``NAME.safetensors``), if there is one that fits it; None otherwise."""
    from pathlib import Path

    from . import load

    path = Path(gen.name)
    if path.suffix != ".safetensors":
        return None
    companion = path.with_name(f"{path.stem}-encoder.safetensors")
    if not companion.is_file():
        return None
    enc = load(companion, device=str(gen.device), precision=gen.compute.precision)
    if not isinstance(enc, LatentEncoder) or (enc.config.nz, enc.size) != (gen.nz, gen.size):
        log.warning("%s does not fit %s; completing by search instead", companion, path.name)
        return None
    trained_for = enc.card.get("generator_digest")  # absent from encoders exported before it
    if trained_for and trained_for != weights_digest(gen.model.state_dict()):
        log.warning(
            "%s was trained for other weights than %s's; completing by search instead",
            companion.name,
            path.name,
        )
        return None
    return enc


def blend_seams(pred: torch.Tensor, x: torch.Tensor, known: torch.Tensor, reach: float):
    """Generated faces with their mismatch to the visible pixels faded into the hole.

    pred (R, 3, S, S) generated, x (3, S, S) the image, known (1, S, S) in {0, 1} ->
    (R, 3, S, S): the residual x - pred on the known pixels, spread into the hole by
    ``pull_push`` and weighted by exp(-distance to the nearest known pixel / ``reach``)
    (pixels), is added to the hole, so that pasting the known pixels back leaves no seam.
    Known pixels come back as ``pred``'s (the caller pastes the originals); reach 0 = no-op.
    """
    if reach <= 0:
        return pred
    from ..models.fill import pull_push

    k = known[None].expand(pred.shape[0], 1, *known.shape[-2:])
    residual = pull_push((x[None] - pred) * k, k)
    # Chessboard distance to the known pixels by repeated 3x3 dilation, up to 6 reaches
    # (where the weight is below 0.3 %).
    dist = torch.full_like(known, float("inf"))
    grown = (known > 0).float()[None]
    for d in range(int(6 * reach) + 1):
        dist[(grown[0] > 0) & torch.isinf(dist)] = d
        grown = F.max_pool2d(grown, 3, 1, 1)
    return pred + residual * torch.exp(-dist / reach)[None] * (1 - k)


def pooled_fit(pred: torch.Tensor, x: torch.Tensor, known: torch.Tensor, pool: int) -> torch.Tensor:
    """MSE (R,) of pred (R, 3, S, S) against x (3, S, S) over the known pixels (known
    (1, S, S) in {0, 1}), after averaging the known pixels of ``pool`` x ``pool`` cells."""
    k = known[None]
    w = F.avg_pool2d(k, pool)  # pool 1: w = k, a = pred and b = x where known
    a = F.avg_pool2d(pred * k, pool) / w.clamp_min(1e-6)
    b = F.avg_pool2d(x[None] * k, pool) / w.clamp_min(1e-6)
    return ((a - b) ** 2 * w).flatten(1).sum(1) / (w.sum() * 3).clamp_min(1e-6)


class Completer:
    """Draws whole faces around a small visible region of a generator's faces.

    With a completion encoder (``method="encoder"``, the default where the model ships one)
    the candidates are samples of q(z | visible pixels): one forward pass of the encoder
    and one of the generator, no search. Without one (``method="search"``) candidates start
    from random latents and Adam on z minimises the error on the known pixels plus a
    Gaussian prior on z (``steps`` > 0 refines encoder samples the same way; measured, it
    makes them fit better and look worse). The best-fitting candidates are returned, their
    mismatch at the edge of the visible region faded into the hole over ``blend`` pixels,
    and each is composited so the known pixels are kept exactly. Seeded and reproducible.

    Encoder candidates are ranked by their fit at 1/``ENCODER_RANK_POOL`` resolution (the
    colours of skin, hair and glasses, not pixel detail): from 8 posterior samples per
    returned face, that keeps the faces whose colours agree with the visible region.
    """

    ENCODER_RANK_POOL = 4

    def __init__(
        self,
        gen: Generator,
        *,
        method: str = "auto",
        steps: int | None = None,
        restarts_per_sample: int | None = None,
        lr: float = 0.1,
        prior_weight: float = 0.05,
        blend: float = 4.0,
    ):
        if method not in ("auto", "encoder", "search"):
            raise UserError(f"completion method must be auto, encoder or search, got {method!r}")
        self.gen, self.lr, self.prior_weight, self.blend = gen, lr, prior_weight, blend
        self.encoder = gen.encoder if method != "search" else None
        if method == "encoder" and self.encoder is None:
            raise UserError(f"{gen.name}: no completion encoder ships with this model")
        self.method = "encoder" if self.encoder is not None else "search"
        default_steps, default_rps = (0, 8) if self.encoder is not None else (40, 4)
        self.steps = default_steps if steps is None else steps
        self.rps = default_rps if restarts_per_sample is None else restarts_per_sample
        self.rank_pool = self.ENCODER_RANK_POOL if self.encoder is not None else 1

    def starts(self, x: torch.Tensor, known: torch.Tensor, n: int, seed: int) -> torch.Tensor:
        """(n, nz) starting latents: posterior samples with an encoder, else N(0, I)."""
        eps = latents(n, self.gen.nz, seed)
        if self.encoder is None:
            return eps
        mu, logvar = self.encoder.posterior(x[None], known[None])
        return mu.cpu() + torch.exp(0.5 * logvar.cpu()) * eps

    def fit(self, x: torch.Tensor, known: torch.Tensor, restarts: int, seed: int):
        """x (3, S, S) in [-1, 1], known (1, S, S) -> (images (R, 3, S, S), fit MSE (R,))."""
        net = self.gen.forward  # BN folded, the machine's precision and layout
        z = self.starts(x, known, restarts, seed).to(self.gen.device)
        x = x[None].to(self.gen.device)
        known = known[None].to(self.gen.device)
        if self.steps:  # Adam on z (the search; optional refining of encoder samples)
            denom = known.sum().clamp_min(1.0) * 3
            z.requires_grad_(True)
            opt = torch.optim.Adam([z], lr=self.lr)
            for _ in range(self.steps):
                opt.zero_grad(set_to_none=True)
                pred = net(z)
                diff = (pred - x) * known
                rec = diff.pow(2).flatten(1).sum(1) / denom + diff.abs().flatten(1).sum(1) / denom
                prior = z.pow(2).mean(1)
                (rec + self.prior_weight * prior).sum().backward()
                opt.step()
        with torch.no_grad():
            pred = finite(net(z)).cpu()
        return pred, pooled_fit(pred, x[0].cpu(), known[0].cpu(), 1)

    def __call__(self, image, mask=None, *, samples: int = 4, seed: int = 0) -> list[Image.Image]:
        if not 1 <= samples <= 64:
            raise UserError(f"samples must be between 1 and 64, got {samples}")
        arr, missing = open_image_and_mask(image, mask, regions=True)
        return self.complete_prepared(arr, missing, samples, seed)[0]

    def complete_prepared(
        self, arr: np.ndarray, missing: np.ndarray, samples: int, seed: int
    ) -> tuple[list[Image.Image], torch.Tensor]:
        """uint8 (H, W, 3) + bool (H, W) -> (completions best first, their fit MSE on known pixels)."""
        s = self.gen.size
        x = uint8_to_tensor(letterbox(arr, s, Image.BICUBIC)[None])[0]
        known = torch.from_numpy(~mask_to_model(missing, s))[None].float()
        # A region outside the letterbox is padding, not a known pixel.
        h, w = missing.shape
        x0, y0, w2, h2 = letterbox_box(w, h, s)
        inside = torch.zeros_like(known)
        inside[:, y0 : y0 + h2, x0 : x0 + w2] = 1
        known = known * inside
        pred, loss = self.fit(x, known, samples * self.rps, seed)
        order = torch.argsort(pooled_fit(pred, x, known, self.rank_pool))[:samples]
        best = blend_seams(pred[order], x, known, self.blend)
        best = self.gen.larger(best, max(w, h))  # drawn sharp at the image's size
        return [composite(from_model(p, w, h), arr, missing) for p in best], loss[order]
