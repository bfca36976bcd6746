"""Seeded hole masks for inpainting training and evaluation: (H, W) bool, True = missing."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from PIL import Image, ImageDraw

MASK_KINDS = ("box", "stroke", "large", "keep", "region")

# Lengths and widths are fractions of sqrt(H * W), so a mask looks the same at 16, 64 and
# 512 px. LaMa's "thick" masks at 256 px draw 1-5 polylines of 1-5 segments, 10-209 px long
# and 5-104 px wide, turning by one of four fixed angles, with square joints; ours turn by a
# uniform angle, have round joints and caps, and are shorter and thinner so that before the
# coverage redraw half the masks cover 11-26% of the image and 80% cover 6-34%.
_STROKE_COUNT = (1, 5)  # polylines per mask, inclusive
_STROKE_SEGMENTS = (1, 5)  # segments per polyline, inclusive
_STROKE_LENGTH = (0.10, 0.45)  # segment length
_STROKE_WIDTH = (0.05, 0.18)  # brush width
_STROKE_COVERAGE = (0.05, 0.5)

# LaMa's "large" training masks: 1-4 boxes of 30-150 px and 1-5 strokes up to 104 px wide
# at 256 px, i.e. boxes of 12-60% of a side and strokes up to 40% of it. Ours use fewer,
# wider pieces so that about 80% of draws already land in the coverage range.
_LARGE_BOXES = (1, 3)
_LARGE_BOX_SIDE = (0.15, 0.55)
_LARGE_STROKES = (1, 3)
_LARGE_STROKE_LENGTH = (0.15, 0.60)
_LARGE_STROKE_WIDTH = (0.12, 0.30)
_LARGE_COVERAGE = (0.3, 0.7)

_KEEP_WINDOW_SIDE = (0.15, 0.30)
_KEEP_QUARTERS = ((0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), (0, 0.5, 0.5, 1), (0.5, 0.5, 1, 1))
_KEEP_HALVES = ((0, 0, 1, 0.5), (0, 0.5, 1, 1), (0, 0, 0.5, 1), (0.5, 0, 1, 1))

_MAX_TRIES = 100  # rejection-sampling budget; a try is accepted far more often than not


def _check_size(h: int, w: int) -> None:
    if h < 2 or w < 2:
        raise ValueError(f"mask size must be at least 2x2 pixels, got {h}x{w}")


def _side_px(frac: tuple[float, float], dim: int, rng: np.random.Generator) -> int:
    """A side length in pixels, uniform over the whole pixel counts inside ``frac * dim``."""
    lo = max(1, math.ceil(frac[0] * dim - 1e-9))
    hi = min(dim - 1, math.floor(frac[1] * dim + 1e-9))
    if hi < lo:  # too few pixels for the range: take the nearest count that leaves a gap
        return min(max(1, round(0.5 * (frac[0] + frac[1]) * dim)), dim - 1)
    return int(rng.integers(lo, hi + 1))


def _draw_strokes(
    draw: ImageDraw.ImageDraw,
    h: int,
    w: int,
    rng: np.random.Generator,
    count: tuple[int, int],
    length: tuple[float, float],
    width: tuple[float, float],
) -> None:
    """Draw random thick polylines with round joints and caps, clipped to the image."""
    scale = math.sqrt(h * w)
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        brush = max(1, round(rng.uniform(*width) * scale))
        x, y = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        points = [(x, y)]
        for _ in range(int(rng.integers(_STROKE_SEGMENTS[0], _STROKE_SEGMENTS[1] + 1))):
            angle = rng.uniform(0, 2 * math.pi)
            step = rng.uniform(*length) * scale
            x = min(max(x + step * math.cos(angle), 0.0), w - 1.0)
            y = min(max(y + step * math.sin(angle), 0.0), h - 1.0)
            points.append((x, y))
        draw.line(points, fill=255, width=brush, joint="curve")
        r = (brush - 1) / 2
        for px, py in (points[0], points[-1]):
            draw.ellipse((px - r, py - r, px + r, py + r), fill=255)


def _canvas(h: int, w: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("L", (w, h), 0)
    return image, ImageDraw.Draw(image)


def _as_mask(image: Image.Image) -> np.ndarray:
    return np.asarray(image) > 0


def coverage(mask: np.ndarray) -> float:
    """Fraction of pixels missing (True) in a bool mask of any shape."""
    return float(np.mean(mask))


def box_mask(
    h: int, w: int, rng: np.random.Generator, side: tuple[float, float] = (0.30, 0.45)
) -> np.ndarray:
    """One axis-aligned rectangular hole, placed uniformly inside the image.

    Width and height are each a uniform fraction in ``side`` of the image's width/height
    (whole pixels; clamped to leave at least one known row or column), so with the default
    ``side`` coverage lies in [0.09, 0.2025]. Returns (H, W) bool, True = missing.
    """
    _check_size(h, w)
    if not 0 < side[0] <= side[1] <= 1:
        raise ValueError(f"box side fractions must satisfy 0 < lo <= hi <= 1, got {side}")
    bw, bh = _side_px(side, w, rng), _side_px(side, h, rng)
    x0 = int(rng.integers(0, w - bw + 1))
    y0 = int(rng.integers(0, h - bh + 1))
    mask = np.zeros((h, w), dtype=bool)
    mask[y0 : y0 + bh, x0 : x0 + bw] = True
    return mask


def stroke_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """LaMa-style thick free-form strokes: 1-5 polylines of 1-5 segments, round joints.

    Lengths and widths scale with sqrt(H * W). Coverage is typically 10-35%; masks outside
    [0.05, 0.5] are redrawn from the same ``rng``. Returns (H, W) bool, True = missing.
    """
    _check_size(h, w)
    for _ in range(_MAX_TRIES):
        image, draw = _canvas(h, w)
        _draw_strokes(draw, h, w, rng, _STROKE_COUNT, _STROKE_LENGTH, _STROKE_WIDTH)
        mask = _as_mask(image)
        if _STROKE_COVERAGE[0] <= coverage(mask) <= _STROKE_COVERAGE[1]:
            return mask
    return box_mask(h, w, rng)  # only at sizes too small for any stroke to fit the range


def large_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """LaMa-style "large" hole: a union of 1-3 big boxes and 1-3 very thick strokes.

    Masks with coverage outside [0.3, 0.7] are redrawn from the same ``rng``.
    Returns (H, W) bool, True = missing.
    """
    _check_size(h, w)
    for _ in range(_MAX_TRIES):
        image, draw = _canvas(h, w)
        for _ in range(int(rng.integers(_LARGE_BOXES[0], _LARGE_BOXES[1] + 1))):
            bw, bh = _side_px(_LARGE_BOX_SIDE, w, rng), _side_px(_LARGE_BOX_SIDE, h, rng)
            x0 = int(rng.integers(0, w - bw + 1))
            y0 = int(rng.integers(0, h - bh + 1))
            draw.rectangle((x0, y0, x0 + bw - 1, y0 + bh - 1), fill=255)
        _draw_strokes(draw, h, w, rng, _LARGE_STROKES, _LARGE_STROKE_LENGTH, _LARGE_STROKE_WIDTH)
        mask = _as_mask(image)
        if _LARGE_COVERAGE[0] <= coverage(mask) <= _LARGE_COVERAGE[1]:
            return mask
    return keep_box_mask(h, w, _KEEP_HALVES[0])  # only at sizes too small to hit the range


def keep_box_mask(h: int, w: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """Everything missing except the window ``box = (x0, y0, x1, y1)`` in fractions (0..1).

    A pixel is kept when its centre lies in [x0, x1) x [y0, y1); a window thinner than a
    pixel keeps the pixel at its centre. E.g. (0, 0, 1, 0.5) keeps the top half.
    Returns (H, W) bool, True = missing; raises ValueError if nothing would be missing.
    """
    _check_size(h, w)
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"keep box must be (x0, y0, x1, y1) with 0 <= x0 < x1 <= 1, got {box}")
    c0, c1 = _kept_span(x0, x1, w)
    r0, r1 = _kept_span(y0, y1, h)
    if (c1 - c0) * (r1 - r0) == h * w:
        raise ValueError(f"keep box {box} keeps the whole {h}x{w} image; nothing is missing")
    mask = np.ones((h, w), dtype=bool)
    mask[r0:r1, c0:c1] = False
    return mask


def _kept_span(f0: float, f1: float, dim: int) -> tuple[int, int]:
    """Pixels i whose centre (i + 0.5) / dim lies in [f0, f1), at least one of them."""
    start = max(0, math.ceil(f0 * dim - 0.5))
    stop = min(dim, math.ceil(f1 * dim - 0.5))
    if stop <= start:
        start = min(int(0.5 * (f0 + f1) * dim), dim - 1)
        stop = start + 1
    return start, stop


def keep_region_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Keep only one region, each with probability 1/3: a small window, a quarter or a half.

    The window's sides are 15-30% of the image's (e.g. an eye), placed uniformly; the
    quarter is one of the four quadrants; the half is top, bottom, left or right.
    Coverage (missing) is about [0.5, 0.98]. Returns (H, W) bool, True = missing.
    """
    _check_size(h, w)
    region = int(rng.integers(3))
    if region == 1:
        return keep_box_mask(h, w, _KEEP_QUARTERS[int(rng.integers(4))])
    if region == 2:
        return keep_box_mask(h, w, _KEEP_HALVES[int(rng.integers(4))])
    bw, bh = _side_px(_KEEP_WINDOW_SIDE, w, rng), _side_px(_KEEP_WINDOW_SIDE, h, rng)
    x0 = int(rng.integers(0, w - bw + 1))
    y0 = int(rng.integers(0, h - bh + 1))
    mask = np.ones((h, w), dtype=bool)
    mask[y0 : y0 + bh, x0 : x0 + bw] = False
    return mask


_GENERATORS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "box": box_mask,
    "stroke": stroke_mask,
    "large": large_mask,
    "keep": keep_region_mask,
    "region": lambda h, w, rng: named_region_mask(h, w, rng),  # defined with KEEP_REGIONS
}


def make_mask(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One mask of ``kind`` (one of MASK_KINDS): (H, W) bool, True = missing."""
    generator = _GENERATORS.get(kind)
    if generator is None:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: {', '.join(MASK_KINDS)}")
    return generator(h, w, rng)


DEFAULT_MIX = "box:0.3,stroke:0.3,large:0.3,keep:0.1"  # the inpainting models' training mix


def parse_mask_mix(text: str) -> dict[str, float]:
    """ "box:0.3,stroke:0.3" -> {"box": 0.3, "stroke": 0.3} (a kind without weight gets 1)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, w = part.partition(":")
        out[kind.strip()] = float(w or 1.0)
    return out


def mixed_mask(
    h: int, w: int, rng: np.random.Generator, weights: Mapping[str, float] | None = None
) -> np.ndarray:
    """The training mix: pick a kind by ``weights``, return that kind's (H, W) bool mask.

    ``weights`` maps kinds to relative probabilities (missing kinds get 0); the default is
    box 0.3, stroke 0.3, large 0.3, keep 0.1. Coverage is that of the kind drawn.
    """
    if weights is None:
        weights = parse_mask_mix(DEFAULT_MIX)
    unknown = set(weights) - set(MASK_KINDS)
    if unknown:
        raise ValueError(
            f"unknown mask kind(s) {sorted(unknown)} in weights; valid: {', '.join(MASK_KINDS)}"
        )
    p = np.array([float(weights.get(kind, 0.0)) for kind in MASK_KINDS])
    if np.any(p < 0) or not p.sum() > 0:
        raise ValueError(f"mask weights must be >= 0 with a positive sum, got {dict(weights)}")
    kind = MASK_KINDS[int(rng.choice(len(MASK_KINDS), p=p / p.sum()))]
    return make_mask(kind, h, w, rng)


def training_masks(
    n: int, h: int, w: int, weights: Mapping[str, float], seed: int, step: int, first: int = 0
) -> np.ndarray:
    """(n, H, W) bool ``mixed_mask``s of a training step: mask i from
    ``default_rng([seed, step, first + i])`` (``first``: its index in the global batch)."""
    return np.stack(
        [
            mixed_mask(h, w, np.random.default_rng([seed, step, first + i]), weights)
            for i in range(n)
        ]
    )


def mask_batch(n: int, h: int, w: int, seed: int, kind: str = "mixed") -> np.ndarray:
    """``n`` masks as (N, H, W) bool; mask i comes from ``default_rng([seed, i])`` alone.

    So mask i depends only on (seed, i, kind, size): fixed evaluation masks for any n.
    ``kind`` is "mixed" (the default training mix) or one of MASK_KINDS.
    """
    if kind != "mixed" and kind not in _GENERATORS:
        raise ValueError(f"unknown mask kind {kind!r}; valid kinds: mixed, {', '.join(MASK_KINDS)}")
    if n < 0:
        raise ValueError(f"number of masks must be >= 0, got {n}")
    _check_size(h, w)
    out = np.empty((n, h, w), dtype=bool)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        out[i] = mixed_mask(h, w, rng) if kind == "mixed" else make_mask(kind, h, w, rng)
    return out


# Boxes (x0, y0, x1, y1, as fractions of width and height) of face parts in the layout of the
# built-in faces (a face centred in a square, as the shipped models saw in training).
# "left" means the left of the picture.
KEEP_REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left-eye": (0.30, 0.28, 0.49, 0.45),
    "right-eye": (0.51, 0.28, 0.70, 0.45),
    "eyes": (0.30, 0.28, 0.70, 0.45),
    "mouth": (0.37, 0.46, 0.63, 0.63),
    "top-half": (0.0, 0.0, 1.0, 0.5),
    "left-half": (0.0, 0.0, 0.5, 1.0),
}


def named_region_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Everything missing except one of ``KEEP_REGIONS`` (drawn at random), its sides moved
    by up to 3 % of the image: what "complete from the left eye" looks like, with jitter."""
    names = list(KEEP_REGIONS)
    x0, y0, x1, y1 = np.array(KEEP_REGIONS[names[int(rng.integers(len(names)))]])
    x0, y0, x1, y1 = np.clip(np.array([x0, y0, x1, y1]) + rng.uniform(-0.03, 0.03, 4), 0, 1)
    return keep_box_mask(h, w, (min(x0, x1 - 0.05), min(y0, y1 - 0.05), x1, y1))


def keep_mask(region: str, width: int, height: int) -> np.ndarray:
    """bool (height, width), True = missing: everything except the named region is missing."""
    if region not in KEEP_REGIONS:
        from ..errors import UserError

        raise UserError(f"unknown region {region!r}; choose from {', '.join(KEEP_REGIONS)}")
    return keep_box_mask(height, width, KEEP_REGIONS[region])
