"""Fine texture for a smooth fill: the photo's own grain, copied from matching known blocks.

A smooth fill (pull-push, or a network trained with an L1/L2 loss) is the best guess of a
hole's colours but carries none of the fine detail around it, so a fill looks like a smudge
in a sharp photo. ``add_texture`` splits the known pixels into a smooth part and a
high-pass "texture" band (finer than ``sigma`` px), and covers the hole with blocks of that
band cut from the known region, each taken where the photo's coarse colours match the
fill's at that place (the structure-plus-texture split of Bertalmio et al. 2003, with block
matching in place of texture synthesis). The blocks overlap by half with sine windows whose
squares sum to one, so the copied grain keeps its strength and shows no block seams.

The band is copied as gray grain, the same in the three channels: the eye sees fine
detail in lightness, not in colour (why JPEG halves the colour resolution), and a photo's
finest colour variation is mostly demosaicing and compression noise, which a copy only
adds as error (the test photos' boxes: the texture cost 0.19 dB instead of 0.24, the
rocket's sky 0.55 instead of 0.93; validation about equal).

The band is weak (a few gray levels), so the fill's colours barely move. With ``match``
its strength is set per hole so that the fill's fine detail (mean |Laplacian|, the measure
of ``metrics.fill_detail``) is a fraction of that of the known pixels within ``RING`` px of
the hole: as sharp as its surroundings, neither a smudge in grass nor noise in a clear sky.
At the photo inpainters' fraction (``PHOTO_TEXTURE`` = 0.9, families/inpaint.py) it costs
0.18 dB (boxes) / 0.20 dB (strokes) PSNR on the 10 validation photos and brings the fill's
detail from under 0.1 to 0.82 / 0.93 of the photo's (over the oriented fill of
models/fill.py).

The band is the one finer than 0.5 px. A matched texture reaches the same detail with less
energy (so less PSNR cost) the finer its band: on the validation photos (over the harmonic
fill, the gain uncapped) the 0.7 / 0.5-px bands cost 0.03 / 0.01 dB more than the 0.4-px
one on boxes and 0.04 / 0.01 dB on strokes, at equal detail. The 0.4-px band is not used:
a Gaussian that narrow barely blurs, its band has 0.23 of the 0.7-px band's fine detail,
and matching it takes gains near 10 that amplify pixel noise. The gain is capped at
``MAX_GAIN`` = 3.5: the cap of 2.0 that the 0.7-px band had, carried over (the 0.5-px band
has 0.56 of its fine detail).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..metrics import gray_laplacian
from ..models.fill import gaussian_blur

BLOCK = 16  # px side of a copied block (targets every BLOCK // 2 px)
CELL = 4  # px: blocks are matched on their coarse colours, one per CELL x CELL cell
COARSE_SIGMA = 4.0  # px: the blur that gives the coarse colours
MAX_SOURCES = 8192  # candidate source blocks at most (more: a coarser grid)
CHUNK = 1024  # target blocks matched at a time (bounds the memory of the cost matrix)
CHOICES = 16  # a target block copies one of its this many best-matching sources


def _grid(n: int, step: int, size: int) -> torch.Tensor:
    """Start positions 0, step, ... of a window of ``size`` within ``n`` px (the last one
    flush with the end)."""
    starts = list(range(0, max(1, n - size + 1), step))
    if starts[-1] != max(0, n - size):
        starts.append(max(0, n - size))
    return torch.tensor(starts)


@torch.inference_mode()
def add_texture(
    image: torch.Tensor,
    known: torch.Tensor,
    fill: torch.Tensor,
    gain: float = 1.0,
    sigma: float = 0.5,
    distance_weight: float = 0.01,
    seed: int = 0,
    match: float = 0.0,
    gray: bool = True,
) -> torch.Tensor:
    """``fill`` with the photo's fine texture added inside the hole.

    image, fill (1, 3, H, W) in [-1, 1] (``image``'s hole pixels are ignored; ``fill`` is
    the image with its hole filled smoothly); known (1, 1, H, W), 1 = known. Returns
    (1, 3, H, W): ``fill`` outside the hole exactly, fill + ``gain`` x copied texture inside.
    The match cost of a source block is the mean squared difference of the coarse colours
    plus ``distance_weight`` x (distance / long side)^2, so near blocks win ties; each
    target copies one of its ``CHOICES`` cheapest sources, drawn with ``seed``. With
    ``match`` > 0 the gain is ``matched_gain`` for that fraction instead. With ``gray`` the
    copied band is its gray level (the channels' mean) in all three channels. Images smaller
    than a block, with no hole or with no fully known block come back as ``fill``.
    """
    _, _, h, w = image.shape
    b, s = BLOCK, BLOCK // 2
    if (gain <= 0 and match <= 0) or h < b or w < b:
        return fill
    known = known.to(image.dtype)
    missing = 1 - known
    # the texture band of the known pixels (a blur over known pixels only, so the hole's
    # edge does not leak into it); usable where the whole blur footprint is known
    weight = gaussian_blur(known, sigma)
    band = (image - gaussian_blur(image * known, sigma) / weight.clamp_min(1e-6)) * known
    if gray:  # the band's gray level in every channel: fine colour noise is not copied
        band = band.mean(1, keepdim=True).expand_as(band).contiguous()
    usable = known * (weight > 0.999).to(image.dtype)
    # coarse colours: the fill (photo + smooth hole) blurred, one value per cell
    coarse = gaussian_blur(fill, COARSE_SIGMA)
    # sources: fully usable blocks on a grid fine enough for MAX_SOURCES candidates
    step = s
    while len(_grid(h, step, b)) * len(_grid(w, step, b)) > MAX_SOURCES:
        step *= 2
    cells = F.avg_pool2d(coarse, CELL, CELL, ceil_mode=True)  # (1, 3, h/CELL, w/CELL)

    def features(ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """(K,) block corners -> (K, 3 * (b/CELL)^2) coarse colours of each block."""
        n = b // CELL
        cy = (ys // CELL)[:, None] + torch.arange(n)[None]  # (K, n)
        cx = (xs // CELL)[:, None] + torch.arange(n)[None]
        cy = cy.clamp(max=cells.shape[-2] - 1)
        cx = cx.clamp(max=cells.shape[-1] - 1)
        f = cells[0][:, cy[:, :, None], cx[:, None, :]]  # (3, K, n, n)
        return f.permute(1, 0, 2, 3).reshape(len(ys), -1)

    def block_sums(plane: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Sum of ``plane`` (1, 1, h, w) over the b x b blocks at (ys, xs): an integral image."""
        ii = F.pad(plane[0, 0].double().cumsum(0).cumsum(1), (1, 0, 1, 0))
        return ii[ys + b, xs + b] - ii[ys, xs + b] - ii[ys + b, xs] + ii[ys, xs]

    def positions(ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """Block corners as features: nearer sources cost less (``distance_weight``)."""
        scale = math.sqrt(distance_weight) / max(h, w)
        return torch.stack([ys, xs], 1).to(image.dtype) * scale

    sy, sx = torch.meshgrid(_grid(h, step, b), _grid(w, step, b), indexing="ij")
    sy, sx = sy.flatten(), sx.flatten()
    ok = block_sums(usable, sy, sx) > b * b - 0.5  # every pixel of the block usable
    sy, sx = sy[ok], sx[ok]
    if len(sy) == 0:
        return fill
    dims = 3 * (b // CELL) ** 2
    # one distance gives the match cost: colours (mean squared) and position together
    src = torch.cat([features(sy, sx) / math.sqrt(dims), positions(sy, sx)], 1)
    # targets: blocks at stride b/2 that touch the hole
    ty, tx = torch.meshgrid(_grid(h, s, b), _grid(w, s, b), indexing="ij")
    ty, tx = ty.flatten(), tx.flatten()
    touches = block_sums(missing, ty, tx) > 0.5
    ty, tx = ty[touches], tx[touches]
    if len(ty) == 0:  # no hole
        return fill
    # each target takes one of its CHOICES best matches at random (seeded): the single best
    # one is often the same source for a whole smooth hole, which would tile it visibly
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for i in range(0, len(ty), CHUNK):
        y, x = ty[i : i + CHUNK], tx[i : i + CHUNK]
        tgt = torch.cat([features(y, x) / math.sqrt(dims), positions(y, x)], 1)
        best = torch.cdist(tgt, src).topk(min(CHOICES, len(sy)), dim=1, largest=False).indices
        which = torch.randint(best.shape[1], (len(y), 1), generator=gen)
        picks.append(best.gather(1, which)[:, 0])
    pick = torch.cat(picks)
    # copy: each target block gets its source block of the band, sine-windowed
    r = torch.arange(b)
    rows = (sy[pick][:, None] + r[None])[:, :, None]  # (T, b, 1)
    cols = (sx[pick][:, None] + r[None])[:, None, :]  # (T, 1, b)
    blocks = band[0][:, rows, cols]  # (3, T, b, b)
    win = torch.sin(math.pi * (r.to(image.dtype) + 0.5) / b)
    blocks = blocks * (win[:, None] * win[None, :])
    texture = torch.zeros(fill.shape[1:], dtype=fill.dtype)  # contiguous, for view()
    dest_rows = (ty[:, None] + r[None])[:, :, None].expand(-1, b, b)
    dest_cols = (tx[:, None] + r[None])[:, None, :].expand(-1, b, b)
    flat = (dest_rows * w + dest_cols).reshape(-1)
    texture.view(3, -1).index_add_(1, flat, blocks.reshape(3, -1))
    texture = texture[None] * missing
    if match > 0:
        gain = matched_gain(image, known, fill, texture, match)
    return fill + gain * texture


RING = 8  # px: the known pixels around the hole whose fine detail the fill matches
MAX_GAIN = 3.5  # the copied band is strengthened at most this much to match them


def matched_gain(
    image: torch.Tensor,
    known: torch.Tensor,
    fill: torch.Tensor,
    texture: torch.Tensor,
    fraction: float = 1.0,
) -> float:
    """The gain g (0 to ``MAX_GAIN``) at which ``fill + g * texture`` has, inside the hole,
    ``fraction`` x the mean |Laplacian| of the known pixels within ``RING`` px of it.

    image, fill, texture (1, 3, H, W), known (1, 1, H, W), 1 = known. The ring's pixels
    are known with all eight neighbours known. The hole's detail, mean |L(fill) + g
    L(texture)|, is convex in g, so a bisection finds it; 1.0 when the ring is empty.
    """
    hole = known[0, 0] < 0.5
    r = 2 * RING + 1  # a square's max, separably
    near = F.max_pool2d(F.max_pool2d(1 - known, (1, r), 1, (0, RING)), (r, 1), 1, (RING, 0))
    near = near[0, 0] > 0.5
    clean = -F.max_pool2d(-known, 3, 1, 1)[0, 0] > 0.5  # known, and so are its neighbours
    ring = near & clean
    if not ring.any() or not hole.any():
        return 1.0
    target = fraction * float(gray_laplacian(image)[0, 0][ring].abs().mean())
    lf, lt = gray_laplacian(fill)[0, 0][hole], gray_laplacian(texture)[0, 0][hole]

    def detail(g: float) -> float:
        return float((lf + g * lt).abs().mean())

    lo, hi = 0.0, MAX_GAIN
    if detail(lo) >= target:
        return 0.0
    if detail(hi) <= target:
        return hi
    for _ in range(12):  # to MAX_GAIN / 4096
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if detail(mid) < target else (lo, mid)
    return (lo + hi) / 2
