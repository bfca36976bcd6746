"""Tests for genrestore.images: opening, validating and saving images and masks.

Every input is generated here; nothing reads a binary fixture.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genrestore.errors import UserError
from genrestore.images import (
    open_image,
    open_image_with_alpha,
    open_mask,
    pil_to_tensor,
    save_image,
    tensor_to_pil,
)

W, H = 24, 16  # a non-square size catches width/height mix-ups


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENRESTORE_CHECKPOINTS", str(tmp_path / "checkpoints"))


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def _noise(w: int = W, h: int = H, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


# --- every mode a file can hold -> RGB of the right size ---------------------------------


def _palette_image() -> Image.Image:
    p = Image.new("P", (W, H), 0)
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    p.paste(1, (0, 0, W // 2, H))  # left half index 1 (blue), right half index 0 (red)
    return p


# (name, image, file suffix, save kwargs, {(x, y): expected RGB}, tolerance)
MODES = [
    ("1", Image.new("1", (W, H), 1), ".png", {}, {(3, 3): (255, 255, 255)}, 0),
    ("L", Image.new("L", (W, H), 100), ".png", {}, {(3, 3): (100, 100, 100)}, 0),
    ("LA", Image.new("LA", (W, H), (60, 255)), ".png", {}, {(3, 3): (60, 60, 60)}, 0),
    ("P", _palette_image(), ".png", {}, {(2, 2): (0, 0, 255), (W - 2, 2): (255, 0, 0)}, 0),
    ("RGB", Image.new("RGB", (W, H), (10, 200, 30)), ".png", {}, {(5, 5): (10, 200, 30)}, 0),
    ("RGBA", Image.new("RGBA", (W, H), (10, 20, 30, 255)), ".png", {}, {(5, 5): (10, 20, 30)}, 0),
    ("CMYK", Image.new("CMYK", (W, H), (255, 0, 0, 0)), ".jpg", {}, {(5, 5): (0, 255, 255)}, 8),
    ("BMP", Image.new("RGB", (W, H), (1, 2, 3)), ".bmp", {}, {(5, 5): (1, 2, 3)}, 0),
    ("WEBP", Image.new("RGB", (W, H), (0, 0, 0)), ".webp", {"lossless": True}, {}, 0),
]


@pytest.mark.parametrize("name,img,suffix,kw,expect,tol", MODES, ids=[m[0] for m in MODES])
def test_every_saved_mode_opens_as_rgb(tmp_path, name, img, suffix, kw, expect, tol):
    path = _save(img, tmp_path / f"in{suffix}", **kw)
    if name == "CMYK":
        assert Image.open(path).mode == "CMYK"  # the file really is CMYK
    out = open_image(path)
    assert out.mode == "RGB"
    assert out.size == (W, H)
    for xy, rgb in expect.items():
        assert np.abs(np.subtract(out.getpixel(xy), rgb)).max() <= tol, (name, xy)


def test_palette_with_transparency_goes_on_white_and_gives_a_mask(tmp_path):
    path = _save(_palette_image(), tmp_path / "p.png", transparency=1)  # blue = transparent
    rgb, missing = open_image_with_alpha(path)
    assert rgb.mode == "RGB" and rgb.size == (W, H)
    assert rgb.getpixel((2, 2)) == (255, 255, 255)  # transparent blue -> white
    assert rgb.getpixel((W - 2, 2)) == (255, 0, 0)
    assert missing is not None and missing.shape == (H, W) and missing.dtype == bool
    assert missing[:, : W // 2].all() and not missing[:, W // 2 :].any()


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, W, dtype=np.float64).round().astype(np.uint16)
    arr = np.tile(ramp, (H, 1))
    path = _save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")  # really a 16-bit file
    out = _pixels(open_image(path))[..., 0]
    expected = np.round(arr / 65535 * 255)
    assert np.abs(out - expected).max() <= 1
    assert out.min() == 0 and out.max() == 255
    assert (out == 255).mean() < 0.1  # clipping at 255 would make most of the ramp white


def test_dark_16bit_png_stays_dark(tmp_path):
    arr = np.full((H, W), 200, dtype=np.uint16)  # 200 of 65535: nearly black
    path = _save(Image.fromarray(arr), tmp_path / "dark16.png")
    assert open_image(path).getpixel((3, 3)) == (1, 1, 1)


@pytest.mark.parametrize(
    "arr,value",
    [
        (np.full((H, W), 77, dtype=np.int32), 77),  # mode I holding 8-bit values
        (np.full((H, W), 65535, dtype=np.int32), 255),  # mode I holding 16-bit values
        (np.full((H, W), 0.5, dtype=np.float32), 128),  # mode F in [0, 1]
        (np.full((H, W), 200.0, dtype=np.float32), 200),  # mode F in [0, 255]
    ],
    ids=["I-8bit", "I-16bit", "F-unit", "F-255"],
)
def test_int_and_float_modes(tmp_path, arr, value):
    img = Image.fromarray(arr)
    assert img.mode in ("I", "F")
    for src in (img, _save(img, tmp_path / "x.tif")):
        out = open_image(src)
        assert out.mode == "RGB" and out.size == (W, H)
        assert out.getpixel((4, 4)) == (value, value, value)


def test_rgba_transparency_composited_on_white_and_returned_as_mask(tmp_path):
    arr = np.zeros((H, W, 4), dtype=np.uint8)
    arr[..., 0] = 200  # red everywhere
    arr[..., 3] = 255
    arr[:, :4, 3] = 0  # fully transparent
    arr[:, 4:8, 3] = 127  # just transparent enough to count as missing
    arr[:, 8:12, 3] = 128  # just opaque enough to count as known
    path = _save(Image.fromarray(arr, "RGBA"), tmp_path / "a.png")
    rgb, missing = open_image_with_alpha(path)
    assert rgb.mode == "RGB" and rgb.size == (W, H)
    assert rgb.getpixel((1, 1)) == (255, 255, 255)
    assert rgb.getpixel((20, 1)) == (200, 0, 0)
    half = rgb.getpixel((5, 1))
    assert half[1] == half[2] and 120 <= half[1] <= 135  # half white, half red
    assert missing.shape == (H, W)
    assert missing[:, :8].all() and not missing[:, 8:].any()
    assert open_image(path).getpixel((1, 1)) == (255, 255, 255)


def test_opaque_rgba_has_no_mask():
    rgb, missing = open_image_with_alpha(Image.new("RGBA", (W, H), (1, 2, 3, 255)))
    assert missing is None
    assert rgb.getpixel((0, 0)) == (1, 2, 3)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = _save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    out = open_image(path)
    assert out.size == (20, 40)
    top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_animated_gif_gives_first_frame_and_warns(tmp_path, caplog):
    frames = [Image.new("RGB", (W, H), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(path).n_frames == 3
    with caplog.at_level(logging.WARNING, logger="genrestore"):
        out = open_image(path)
    assert out.mode == "RGB" and out.size == (W, H)
    assert out.getpixel((3, 3)) == (255, 0, 0)
    warnings = [
        r for r in caplog.records if r.name == "genrestore" and r.levelno == logging.WARNING
    ]
    assert warnings and "first" in warnings[0].getMessage()
    assert str(path) in warnings[0].getMessage()


# --- bytes and numpy input ---------------------------------------------------------------


def test_bytes_input():
    img = _noise()
    out = open_image(_png_bytes(img))
    assert out.size == (W, H)
    assert np.array_equal(np.asarray(out), np.asarray(img))


def test_numpy_inputs():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(open_image(rgb)), rgb)

    gray = rng.integers(0, 256, (H, W), dtype=np.uint8)
    out = np.asarray(open_image(gray))
    assert out.shape == (H, W, 3) and np.array_equal(out[..., 1], gray)
    assert np.array_equal(np.asarray(open_image(gray[..., None]))[..., 0], gray)

    rgba = np.dstack([rgb, np.full((H, W), 255, np.uint8)])
    rgba[0, 0, 3] = 0
    img, missing = open_image_with_alpha(rgba)
    assert img.getpixel((0, 0)) == (255, 255, 255)
    assert img.getpixel((1, 0)) == tuple(rgb[0, 1])
    assert missing[0, 0] and missing.sum() == 1

    unit = rgb.astype(np.float32) / 255.0  # float in [0, 1]
    assert np.array_equal(np.asarray(open_image(unit)), rgb)


def test_numpy_bool_and_uint16_are_scaled():
    bits = np.zeros((H, W), dtype=bool)
    bits[:, :5] = True
    out = np.asarray(open_image(bits))[..., 0]
    assert (out[:, :5] == 255).all() and (out[:, 5:] == 0).all()

    deep = np.full((H, W, 3), 32768, dtype=np.uint16)
    assert open_image(deep).getpixel((0, 0)) == (128, 128, 128)


# --- errors name the source --------------------------------------------------------------


def _tiny_png(tmp_path: Path) -> Path:
    return _save(Image.new("RGB", (8, 8), "red"), tmp_path / "tiny.png")


def _claim_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite a PNG's IHDR width/height (and its CRC) without touching the pixel data."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return png[:16] + ihdr + crc + png[33:]


def _error_cases(tmp_path: Path) -> dict[str, Path]:
    cases = {}
    cases["missing"] = tmp_path / "nope.png"
    (tmp_path / "folder.png").mkdir()
    cases["folder"] = tmp_path / "folder.png"
    cases["empty"] = tmp_path / "empty.png"
    cases["empty"].write_bytes(b"")
    cases["text"] = tmp_path / "notes.png"
    cases["text"].write_text("this is not an image\n")
    big = _noise(64, 64)
    png = _png_bytes(big)
    cases["truncated-png"] = tmp_path / "cut.png"
    cases["truncated-png"].write_bytes(png[: len(png) // 2])
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=95)
    cases["truncated-jpeg"] = tmp_path / "cut.jpg"
    cases["truncated-jpeg"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    cases["1x1"] = _save(Image.new("RGB", (1, 1)), tmp_path / "dot.png")
    cases["huge"] = tmp_path / "huge.png"
    cases["huge"].write_bytes(_claim_size(_tiny_png(tmp_path).read_bytes(), 40000, 40000))
    cases["over-limit"] = tmp_path / "big.png"  # under PIL's own bomb limit, over ours
    cases["over-limit"].write_bytes(_claim_size(_tiny_png(tmp_path).read_bytes(), 9000, 9000))
    return cases


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", "no such file"),
        ("folder", "folder"),
        ("empty", "empty"),
        ("text", "not a readable image"),
        ("truncated-png", "cannot decode"),
        ("truncated-jpeg", "cannot decode"),
        ("1x1", "1x1"),
        ("huge", "too large"),
        ("over-limit", "9000x9000"),
    ],
)
def test_bad_files_raise_user_error_naming_the_file(tmp_path, case, words):
    path = _error_cases(tmp_path)[case]
    with pytest.raises(UserError) as err:
        open_image(path)
    msg = str(err.value)
    assert str(path) in msg
    assert words in msg
    assert "\n" not in msg


def test_huge_header_in_bytes_is_refused(tmp_path):
    png = _tiny_png(tmp_path).read_bytes()
    with pytest.raises(UserError, match="<image bytes>: image is too large"):
        open_image(_claim_size(png, 40000, 40000))
    with pytest.raises(UserError, match="<image bytes>: image is 9000x9000"):
        open_image(_claim_size(png, 9000, 9000))


def test_bad_bytes():
    with pytest.raises(UserError, match="<image bytes>: empty"):
        open_image(b"")
    with pytest.raises(UserError, match="<image bytes>: not a readable image"):
        open_image(b"GIF89a but not really")


@pytest.mark.parametrize(
    "arr,words",
    [
        (np.full((H, W, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((H, W), np.inf, dtype=np.float64), "NaN or infinite"),
        (np.zeros((H, W, 2), dtype=np.uint8), "shape"),
        (np.zeros((2, H, W, 3), dtype=np.uint8), "shape"),
        (np.zeros(W, dtype=np.uint8), "shape"),
    ],
)
def test_bad_arrays(arr, words):
    with pytest.raises(UserError) as err:
        open_image(arr)
    assert "<numpy image>" in str(err.value) and words in str(err.value)


def test_tiny_array_is_too_small():
    with pytest.raises(UserError, match="4x3"):
        open_image(np.zeros((3, 4, 3), dtype=np.uint8))


def test_max_pixels_is_respected():
    with pytest.raises(UserError, match="over the limit"):
        open_image(_noise(), max_pixels=W * H - 1)
    assert open_image(_noise(), max_pixels=W * H).size == (W, H)


# --- masks: white = missing ---------------------------------------------------------------


def _mask_gray() -> np.ndarray:
    arr = np.zeros((H, W), dtype=np.uint8)
    arr[:, :3] = 255
    arr[:, 3:6] = 128  # > 127: missing
    arr[:, 6:9] = 127  # not > 127: known
    return arr


EXPECTED_MISSING = np.zeros((H, W), dtype=bool)
EXPECTED_MISSING[:, :6] = True


def test_gray_mask(tmp_path):
    path = _save(Image.fromarray(_mask_gray(), "L"), tmp_path / "m.png")
    m = open_mask(path, size=(W, H))
    assert m.dtype == bool and m.shape == (H, W)
    assert np.array_equal(m, EXPECTED_MISSING)


def test_rgb_mask(tmp_path):
    gray = _mask_gray()
    path = _save(Image.fromarray(np.dstack([gray] * 3)), tmp_path / "m.png")
    assert np.array_equal(open_mask(path, size=(W, H)), EXPECTED_MISSING)


def test_rgba_mask_transparent_background_is_known(tmp_path):
    arr = np.zeros((H, W, 4), dtype=np.uint8)
    arr[..., :3] = 255  # white everywhere, even where transparent
    arr[:, :6, 3] = 255  # only the opaque white marks the hole
    path = _save(Image.fromarray(arr, "RGBA"), tmp_path / "m.png")
    assert np.array_equal(open_mask(path), EXPECTED_MISSING)


def test_numpy_masks_pass_through():
    assert open_mask(EXPECTED_MISSING, size=(W, H)) is not None
    assert np.array_equal(open_mask(EXPECTED_MISSING, size=(W, H)), EXPECTED_MISSING)
    ones = EXPECTED_MISSING.astype(np.uint8)  # 0/1 integers
    assert np.array_equal(open_mask(ones), EXPECTED_MISSING)
    assert np.array_equal(open_mask(_mask_gray()), EXPECTED_MISSING)  # 0..255 array
    for arr in (EXPECTED_MISSING, ones):  # HxWx1, as a channel-last mask often comes
        assert np.array_equal(open_mask(arr[..., None], size=(W, H)), EXPECTED_MISSING)


def test_mask_of_another_size_is_an_error(tmp_path):
    path = _save(Image.new("L", (40, 30), 255), tmp_path / "m.png")
    with pytest.raises(UserError) as err:
        open_mask(path, size=(30, 40))
    msg = str(err.value)
    assert str(path) in msg and "40x30" in msg and "30x40" in msg
    with pytest.raises(UserError, match="24x16.*25x16"):
        open_mask(EXPECTED_MISSING, size=(W + 1, H))


def test_bad_mask_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        open_mask(tmp_path / "missing-mask.png")


# --- PIL <-> tensor ----------------------------------------------------------------------


def _all_values_image() -> Image.Image:
    arr = np.arange(16 * 16 * 3, dtype=np.int64).reshape(16, 16, 3) % 256
    return Image.fromarray(arr.astype(np.uint8)[:, :, ::-1].copy())


def test_pil_to_tensor_range_and_shape():
    img = _all_values_image()
    t = pil_to_tensor(img)
    assert t.shape == (1, 3, 16, 16) and t.dtype == torch.float32
    assert t.min().item() == -1.0 and t.max().item() == 1.0
    assert torch.equal(t[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.0]) / 127.5 - 1)
    batch = pil_to_tensor([img, Image.new("RGB", (16, 16), "white")])
    assert batch.shape == (2, 3, 16, 16)
    assert (batch[1] == 1.0).all()
    assert pil_to_tensor(Image.new("L", (W, H), 0)).shape == (1, 3, H, W)


def test_round_trip_is_exact():
    for img in (_all_values_image(), _noise(seed=3)):
        back = tensor_to_pil(pil_to_tensor(img))
        assert len(back) == 1 and back[0].mode == "RGB" and back[0].size == img.size
        assert np.array_equal(np.asarray(back[0]), np.asarray(img))


def test_tensor_to_pil_is_nan_safe_and_clamps():
    x = torch.zeros(2, 3, 8, 8)
    x[0, 0] = float("nan")
    x[0, 1] = float("inf")
    x[0, 2] = -float("inf")
    x[1] = 5.0
    a, b = (np.asarray(im) for im in tensor_to_pil(x))
    assert a.dtype == np.uint8
    assert (a[..., 0] == 128).all() and (a[..., 1] == 255).all() and (a[..., 2] == 0).all()
    assert (b == 255).all()


# --- saving ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".JPEG", ".bmp", ".webp"])
def test_save_image_formats(tmp_path, suffix):
    img = _noise(seed=4)
    path = tmp_path / f"out{suffix}"
    save_image(img, path)
    back = Image.open(path)
    assert back.size == img.size
    fmt = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".webp": "WEBP"}
    assert back.format == fmt[suffix.lower()]
    if suffix in (".png", ".bmp"):
        assert np.array_equal(np.asarray(back.convert("RGB")), np.asarray(img))
    assert os.listdir(tmp_path) == [path.name]


def test_save_image_failures_leave_nothing_behind(tmp_path):
    img = _noise()
    with pytest.raises(UserError, match="unknown image type"):
        save_image(img, tmp_path / "out.xyz")
    with pytest.raises(UserError, match="does not exist"):
        save_image(img, tmp_path / "no" / "such" / "out.png")
    assert os.listdir(tmp_path) == []

    good = tmp_path / "keep.jpg"
    save_image(img, good)
    before = good.read_bytes()
    with pytest.raises(UserError, match="cannot write"):
        save_image(Image.new("RGBA", (W, H)), good)  # JPEG has no alpha: the write fails
    assert os.listdir(tmp_path) == ["keep.jpg"]  # no temp file left
    assert good.read_bytes() == before  # and the old file is intact


def test_saved_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_image(_noise(), tmp_path / "shared.png")
    finally:
        os.umask(old)
    assert (tmp_path / "shared.png").stat().st_mode & 0o777 == 0o644
