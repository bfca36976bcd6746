"""Restoration evaluation: report shape, sane numbers, baselines, seeded masks, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from genrestore import cli
from genrestore.checkpoint import save_checkpoint
from genrestore.config import ColorizeConfig, InpaintConfig
from genrestore.data.masks import MASK_KINDS
from genrestore.errors import UserError
from genrestore.evaluate import (
    INPAINT_BASELINES,
    evaluate_colorizer,
    evaluate_inpainter,
    held_out_images,
)
from genrestore.metrics import PSNR_CAP_DB, psnr, psnr_uint8
from genrestore.models import build_inference_model
from genrestore.tasks import Colorizer, Inpainter

pytest.importorskip("skimage")
pytest.importorskip("cv2")

TINY = {
    "inpaint": InpaintConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "colorize": ColorizeConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
}
N = 4


def _net(family: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_inference_model(family, TINY[family]).eval()


@pytest.fixture
def inpainter() -> Inpainter:
    return Inpainter(_net("inpaint"), "inpaint", TINY["inpaint"], {})


@pytest.fixture
def colorizer() -> Colorizer:
    return Colorizer(_net("colorize"), "colorize", TINY["colorize"], {})


def _finite_numbers(report) -> list[float]:
    """Every number in a (nested) report, bools excluded; asserts the JSON is strict."""
    json.dumps(report, allow_nan=False)
    if isinstance(report, dict):
        return [x for v in report.values() for x in _finite_numbers(v)]
    if isinstance(report, (int, float)) and not isinstance(report, bool):
        assert math.isfinite(report)
        return [float(report)]
    return []


def _without_timings(report: dict) -> dict:
    return {
        k: (_without_timings(v) if isinstance(v, dict) else v)
        for k, v in report.items()
        if k != "sec_per_image"
    }


# --- metrics ------------------------------------------------------------------------------


def test_psnr_uint8_matches_the_tensor_psnr_and_caps_identical_images():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert psnr_uint8(a, b) == pytest.approx(float(psnr(t(a), t(b))[0]), abs=1e-3)
    assert psnr_uint8(a, a) == PSNR_CAP_DB
    black, white = np.zeros_like(a), np.full_like(a, 255)
    assert psnr_uint8(black, white) == pytest.approx(0.0)


# --- inpainting ---------------------------------------------------------------------------


def test_inpaint_report_has_every_kind_and_method(inpainter):
    r = evaluate_inpainter(inpainter, N)
    assert r["task"] == "inpaint" and r["n"] == N and r["size"] == 16
    assert set(r["kinds"]) == set(MASK_KINDS) == set(r["coverage"])
    for kind, methods in r["kinds"].items():
        assert set(methods) == {"model", *INPAINT_BASELINES}
        for scores in methods.values():
            assert set(scores) == {"psnr", "ssim", "detail", "sec_per_image"}
            assert 0 < scores["psnr"] < PSNR_CAP_DB
            assert -1 <= scores["ssim"] <= 1
            assert scores["sec_per_image"] >= 0
        assert 0 < r["coverage"][kind] < 1
    assert set(r["targets"]) == {"box", "stroke"}
    for t in r["targets"].values():
        assert isinstance(t["met"], bool)
    _finite_numbers(r)
    print("\ninpaint baselines at 16 px, n =", N)
    for kind, methods in r["kinds"].items():
        print(f"  {kind:<7} coverage {r['coverage'][kind]:.3f}", {m: methods[m] for m in methods})


def test_a_perfect_inpainter_scores_the_cap_and_meets_the_targets(inpainter, monkeypatch):
    monkeypatch.setattr(
        inpainter, "batch_prepared", lambda prepared: [Image.fromarray(rgb) for rgb, _ in prepared]
    )
    r = evaluate_inpainter(inpainter, N)
    text = json.dumps(r, allow_nan=False)  # valid JSON: no Infinity
    assert json.loads(text) == r
    for methods in r["kinds"].values():
        assert methods["model"]["psnr"] == PSNR_CAP_DB
        assert methods["model"]["ssim"] == pytest.approx(1.0)
    assert all(t["met"] for t in r["targets"].values())


def test_baselines_beat_an_all_black_fill(inpainter, monkeypatch):
    def black_fill(prepared):
        return [
            Image.fromarray(np.where(m[..., None], 0, rgb).astype(np.uint8)) for rgb, m in prepared
        ]

    monkeypatch.setattr(inpainter, "batch_prepared", black_fill)
    r = evaluate_inpainter(inpainter, N)
    for kind, methods in r["kinds"].items():
        for name in INPAINT_BASELINES:
            assert methods[name]["psnr"] > methods["model"]["psnr"] + 3, (kind, name, methods)
            assert methods[name]["ssim"] > methods["model"]["ssim"], (kind, name, methods)


def test_known_pixels_are_kept_by_every_method(inpainter, monkeypatch):
    """Only the hole may differ: a method that rewrites known pixels would be scored unfairly."""
    seen = {}
    real = inpainter.batch_prepared

    def spy(prepared):
        out = real(prepared)
        seen.setdefault("pairs", []).extend(zip(prepared, out))
        return out

    monkeypatch.setattr(inpainter, "batch_prepared", spy)
    evaluate_inpainter(inpainter, N)
    for (rgb, missing), out in seen["pairs"]:
        assert np.array_equal(np.asarray(out)[~missing], rgb[~missing])


def test_seeded_masks_give_identical_reports(inpainter):
    a = evaluate_inpainter(inpainter, N, seed=3)
    b = evaluate_inpainter(inpainter, N, seed=3)
    assert _without_timings(a) == _without_timings(b)
    c = evaluate_inpainter(inpainter, N, seed=4)
    assert c["coverage"] != a["coverage"]


def test_chosen_mask_kinds_only_are_measured(inpainter):
    r = evaluate_inpainter(inpainter, N, kinds="stroke,box")
    assert list(r["kinds"]) == ["stroke", "box"] == list(r["coverage"])
    assert set(r["targets"]) == {"box", "stroke"}
    alone = evaluate_inpainter(inpainter, N, kinds=["box"])  # the same holes either way
    assert _without_timings(alone["kinds"]) == _without_timings({"box": r["kinds"]["box"]})
    for bad in ("circle", "", "box,circle"):
        with pytest.raises(UserError, match="mask kinds must be some of box, stroke"):
            evaluate_inpainter(inpainter, N, kinds=bad)


def test_negative_seed_is_a_user_error(inpainter):
    with pytest.raises(UserError, match="seed"):
        evaluate_inpainter(inpainter, N, seed=-1)


@pytest.mark.parametrize("module", ["cv2", "skimage"])
def test_missing_eval_packages_say_how_to_install(inpainter, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    with pytest.raises(UserError, match=r"genrestore\[eval\]"):
        evaluate_inpainter(inpainter, N)


# --- colorization -------------------------------------------------------------------------


def test_colorize_report_keeps_luminance_from_the_input(colorizer):
    r = evaluate_colorizer(colorizer, N)
    assert r["task"] == "colorize" and r["n"] == N
    assert set(r["methods"]) == {"model", "gray"}
    for scores in r["methods"].values():
        assert set(scores) == {"psnr", "ssim", "luminance_error", "sec_per_image"}
        assert 0 < scores["psnr"] < PSNR_CAP_DB
    # Luminance comes from the input, so it is off only where the predicted a/b fall outside
    # the sRGB gamut and get clipped: an untrained net's small random a/b do, on the white
    # background (L near 100), which costs this tiny model ~1.7 gray levels on average.
    assert r["methods"]["model"]["luminance_error"] < 3.0
    assert r["methods"]["gray"]["luminance_error"] == pytest.approx(0.0, abs=1e-3)
    assert set(r["targets"]) == {"psnr", "luminance_error", "met"}
    assert isinstance(r["targets"]["met"], bool)
    _finite_numbers(r)
    print(f"\ncolorize at 16 px, n = {N}:", r["methods"])


def test_a_perfect_colorizer_scores_the_cap(colorizer, monkeypatch):
    faces = held_out_images(N, 16)
    lookup = {np.asarray(Image.fromarray(f).convert("L")).tobytes(): f for f in faces}
    monkeypatch.setattr(
        colorizer,
        "batch_prepared",
        lambda grays: [Image.fromarray(lookup[g.tobytes()]) for g in grays],
    )
    r = evaluate_colorizer(colorizer, N)
    assert r["methods"]["model"]["psnr"] == PSNR_CAP_DB
    assert r["methods"]["model"]["ssim"] == pytest.approx(1.0)
    assert r["methods"]["model"]["psnr"] > r["methods"]["gray"]["psnr"]
    # no luminance check: PIL's gray (Rec. 601 luma) is not the originals' Lab L, so even
    # the original colors are about one gray level off the input's luminance


# --- CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["inpaint", "colorize"])
def test_cli_eval_prints_one_json_line(tmp_path, capsys, family):
    path = tmp_path / f"tiny-{family}.safetensors"
    net = _net(family)
    save_checkpoint(
        path,
        {"model." + k: v for k, v in net.state_dict().items()},
        family=family,
        config=dataclasses.asdict(TINY[family]),
    )
    assert cli.main(["eval", family, "--model", str(path), "-n", str(N)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1, out
    report = json.loads(lines[0])
    assert report["task"] == family and report["n"] == N
    _finite_numbers(report)

    other = "colorize" if family == "inpaint" else "inpaint"
    assert cli.main(["eval", other, "--model", str(path), "-n", str(N)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"is a {family} model, not {other}" in err
