"""Tests for the seeded hole-mask generators in genrestore.data.masks."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from genrestore.data import masks
from genrestore.data.masks import (
    MASK_KINDS,
    box_mask,
    coverage,
    keep_box_mask,
    keep_region_mask,
    make_mask,
    mask_batch,
    mixed_mask,
)

SIZES = [(16, 16), (64, 64), (48, 80)]
SEEDS = range(50)
# Documented coverage per kind. The box range follows from each side being in [0.30, 0.45],
# which the box test checks pixel-exactly; the generators hit these ranges at all SIZES.
COVERAGE = {"box": (0.09, 0.2025), "stroke": (0.05, 0.5), "large": (0.3, 0.7), "keep": (0.5, 0.98),
            "region": (0.4, 0.995)}  # fmt: skip


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1), half-open, of the True pixels."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _is_one_rectangle(mask: np.ndarray) -> bool:
    r0, r1, c0, c1 = _bbox(mask)
    return int(mask.sum()) == (r1 - r0) * (c1 - c0)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_masks_are_bool_with_shape_and_documented_coverage(kind, size):
    h, w = size
    lo, hi = COVERAGE[kind]
    covs = []
    for seed in SEEDS:
        mask = make_mask(kind, h, w, _rng(seed))
        assert mask.dtype == np.bool_
        assert mask.shape == (h, w)
        assert mask.any() and not mask.all()
        covs.append(coverage(mask))
    assert lo <= min(covs) and max(covs) <= hi, (kind, size, min(covs), max(covs))
    assert np.std(covs) > 0.01  # coverage actually varies from mask to mask


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_box_is_one_rectangle_with_sides_in_range(size):
    h, w = size
    for seed in SEEDS:
        mask = box_mask(h, w, _rng(seed))
        assert _is_one_rectangle(mask)
        r0, r1, c0, c1 = _bbox(mask)
        assert 0.30 <= (c1 - c0) / w <= 0.45
        assert 0.30 <= (r1 - r0) / h <= 0.45


def test_box_side_argument_is_used():
    mask = box_mask(64, 64, _rng(0), side=(0.5, 0.5))
    r0, r1, c0, c1 = _bbox(mask)
    assert (r1 - r0, c1 - c0) == (32, 32)
    with pytest.raises(ValueError):
        box_mask(64, 64, _rng(0), side=(0.6, 0.4))
    for seed in range(5):  # a full-size box is clamped so that some pixel stays known
        assert not box_mask(16, 16, _rng(seed), side=(0.9, 1.0)).all()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_strokes_are_irregular_and_typically_10_to_35_percent(size):
    covs = [coverage(make_mask("stroke", *size, _rng(seed))) for seed in SEEDS]
    assert 0.10 <= np.median(covs) <= 0.35
    rectangles = sum(_is_one_rectangle(make_mask("stroke", *size, _rng(s))) for s in SEEDS)
    assert rectangles < len(SEEDS) // 4  # free-form strokes, not the box fallback


def test_keep_region_keeps_one_rectangle_of_each_region_type():
    h, w = 64, 64
    kept_fractions = set()
    for seed in range(60):
        known = ~keep_region_mask(h, w, _rng(seed))
        assert _is_one_rectangle(known)
        frac = known.mean()
        if frac == 0.5:
            kept_fractions.add("half")
        elif frac == 0.25:
            kept_fractions.add("quarter")
        else:
            r0, r1, c0, c1 = _bbox(known)
            assert 0.15 <= (r1 - r0) / h <= 0.30 and 0.15 <= (c1 - c0) / w <= 0.30
            kept_fractions.add("window")
    assert kept_fractions == {"half", "quarter", "window"}


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_same_seed_same_mask_different_seeds_differ(kind):
    for size in SIZES:
        a = [make_mask(kind, *size, _rng(seed)) for seed in range(20)]
        b = [make_mask(kind, *size, _rng(seed)) for seed in range(20)]
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
        distinct = len({m.tobytes() for m in a})
        # "keep" draws from 8 fixed quarters/halves two times in three; "region" from the
        # 6 named regions, jittered by less than a pixel at the smallest sizes.
        assert distinct >= (6 if kind in ("keep", "region") else 19), (kind, size, distinct)


@pytest.mark.parametrize("kind", ("mixed", *MASK_KINDS))
def test_mask_batch_row_i_comes_from_rng_seed_i(kind):
    h, w, seed = 48, 80, 123
    batch = mask_batch(6, h, w, seed, kind=kind)
    assert batch.shape == (6, h, w) and batch.dtype == np.bool_
    for i in range(6):
        rng = np.random.default_rng([seed, i])
        direct = mixed_mask(h, w, rng) if kind == "mixed" else make_mask(kind, h, w, rng)
        assert np.array_equal(batch[i], direct)
    assert np.array_equal(mask_batch(3, h, w, seed, kind=kind), batch[:3])
    assert not np.array_equal(mask_batch(6, h, w, seed + 1, kind=kind), batch)


def test_mask_batch_default_is_mixed_and_empty_batch_works():
    assert np.array_equal(mask_batch(4, 32, 32, 5), mask_batch(4, 32, 32, 5, kind="mixed"))
    assert mask_batch(0, 32, 32, 5).shape == (0, 32, 32)


def test_mixed_mask_follows_weights():
    for seed in range(20):
        known = ~mixed_mask(64, 64, _rng(seed), weights={"keep": 1.0})
        assert _is_one_rectangle(known) and known.mean() <= 0.5
        hole = mixed_mask(64, 64, _rng(seed), weights={"box": 1.0, "stroke": 0.0})
        assert _is_one_rectangle(hole) and 0.09 <= coverage(hole) <= 0.2025
    covs = [coverage(mixed_mask(64, 64, _rng(seed))) for seed in range(200)]
    assert min(covs) < 0.2 and max(covs) > 0.9  # the default mix spans box to keep


@pytest.mark.parametrize("weights", [{"circle": 1.0}, {"box": -1.0, "keep": 2.0}, {"box": 0}])
def test_mixed_mask_rejects_bad_weights(weights):
    with pytest.raises(ValueError):
        mixed_mask(32, 32, _rng(0), weights=weights)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_keep_box_keeps_exactly_the_top_half(size):
    h, w = size
    mask = keep_box_mask(h, w, (0, 0, 1, 0.5))
    expected = np.ones((h, w), dtype=bool)
    expected[: h // 2] = False
    assert np.array_equal(mask, expected)


@pytest.mark.parametrize("size", [(5, 7), (47, 33), (64, 64)])
def test_opposite_halves_and_quarters_tile_the_image(size):
    h, w = size
    for a, b in [((0, 0, 1, 0.5), (0, 0.5, 1, 1)), ((0, 0, 0.5, 1), (0.5, 0, 1, 1))]:
        known_a, known_b = ~keep_box_mask(h, w, a), ~keep_box_mask(h, w, b)
        assert not (known_a & known_b).any() and (known_a | known_b).all()
    quarters = [(0, 0, 0.5, 0.5), (0.5, 0, 1, 0.5), (0, 0.5, 0.5, 1), (0.5, 0.5, 1, 1)]
    counts = sum((~keep_box_mask(h, w, q)).astype(int) for q in quarters)
    assert (counts == 1).all()


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_holes_are_spread_over_the_whole_image(kind):
    h, w = 48, 80
    mean = np.mean([make_mask(kind, h, w, _rng(seed)) for seed in range(200)], axis=0)
    quadrants = [mean[:24, :40], mean[:24, 40:], mean[24:, :40], mean[24:, 40:]]
    ratios = [q.mean() / mean.mean() for q in quadrants]
    assert all(0.75 <= r <= 1.33 for r in ratios), ratios


def test_keep_box_windows_and_errors():
    mask = keep_box_mask(64, 64, (0.25, 0.5, 0.75, 1.0))
    assert np.array_equal(np.argwhere(~mask).min(0), [32, 16])
    assert np.array_equal(np.argwhere(~mask).max(0), [63, 47])
    tiny = keep_box_mask(16, 16, (0.5, 0.5, 0.51, 0.51))  # thinner than a pixel keeps one
    assert (~tiny).sum() == 1
    for bad in [(0.5, 0, 0.4, 1), (0, 0, 1.2, 1), (-0.1, 0, 1, 1)]:
        with pytest.raises(ValueError):
            keep_box_mask(64, 64, bad)
    with pytest.raises(ValueError, match="nothing is missing"):
        keep_box_mask(64, 64, (0, 0, 1, 1))


def test_unknown_kind_raises_value_error_naming_valid_kinds():
    with pytest.raises(ValueError, match="box, stroke, large, keep"):
        make_mask("circle", 64, 64, _rng(0))
    with pytest.raises(ValueError, match="mixed"):
        mask_batch(2, 64, 64, 0, kind="circle")


@pytest.mark.parametrize("size", [(2, 2), (3, 5), (5, 3), (4, 4)])
def test_tiny_sizes_still_have_missing_and_known_pixels(size):
    for kind in MASK_KINDS:
        for seed in range(20):
            mask = make_mask(kind, *size, _rng(seed))
            assert mask.shape == size and mask.any() and not mask.all(), (kind, size, seed)
    with pytest.raises(ValueError):
        make_mask("box", 1, 8, _rng(0))


def test_coverage_is_the_missing_fraction():
    mask = np.zeros((4, 5), dtype=bool)
    mask[0, :3] = True
    assert coverage(mask) == pytest.approx(0.15)


def test_module_uses_no_torch():
    tree = ast.parse(Path(masks.__file__).read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name and name.split(".")[0] == "torch" for name in imported)
