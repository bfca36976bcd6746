"""Bad-input corpus x every CLI subcommand that takes an image: a correct result, or exit 2
with one line on stderr naming the file, never a traceback, never a partial output file.

Every input is generated here (no binary fixtures).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli, write_tiny_checkpoints
from PIL import Image

from genrestore.config import ColorizeConfig, GANConfig, InpaintConfig

TINY = {
    "inpaint": InpaintConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "colorize": ColorizeConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "gan": GANConfig(size=16, nz=8, ngf=8, ndf=8),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    """Untrained tiny checkpoints per family, built once: {family: path}."""
    return write_tiny_checkpoints(tmp_path_factory.mktemp("models"), TINY)


def _rgb(w=40, h=30, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    """A tiny valid PNG whose header claims 40,000 x 40,000 pixels."""
    data = bytearray(_png_bytes(_rgb(8, 8)))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", 40_000, 40_000)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def _write(path: Path, make) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make(path)
    return path


# name -> (how to write it, expected size (w, h) of a correct result, or None = exit 2)
def _corpus(root: Path) -> dict[str, tuple[Path, tuple[int, int] | None]]:
    buf = io.BytesIO()
    _rgb().save(buf, format="JPEG")
    jpeg = buf.getvalue()
    png = _png_bytes(_rgb())

    def gray16(p):
        arr = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
        Image.fromarray(arr).save(p)  # uint16 -> mode I;16, a 16-bit gray PNG

    def cmyk(p):
        _rgb().convert("CMYK").save(p, format="JPEG")

    def palette_alpha(p):
        img = _rgb().convert("P", palette=Image.ADAPTIVE, colors=16)
        img.info["transparency"] = 0
        img.save(p, transparency=0)

    def gif(p):
        frames = [_rgb(seed=i).convert("P") for i in range(3)]
        frames[0].save(p, save_all=True, append_images=frames[1:], duration=50, loop=0)

    def exif_rotated(p):
        img = _rgb(40, 30)
        exif = img.getexif()
        exif[0x0112] = 6  # rotate 90 degrees on display
        img.save(p, format="JPEG", exif=exif.tobytes())

    cases = {
        "zero-byte.png": (lambda p: p.write_bytes(b""), None),
        "truncated.png": (lambda p: p.write_bytes(png[: len(png) // 2]), None),
        "truncated.jpg": (lambda p: p.write_bytes(jpeg[: len(jpeg) // 2]), None),
        "text.png": (lambda p: p.write_text("this is not an image\n"), None),
        "tiny.png": (lambda p: _rgb(1, 1).save(p), None),
        "bomb.png": (lambda p: p.write_bytes(_bomb_png()), None),
        "gray16.png": (gray16, (40, 30)),
        "cmyk.jpg": (cmyk, (40, 30)),
        "palette-alpha.png": (palette_alpha, (40, 30)),
        "animated.gif": (gif, (40, 30)),
        "exif-rotated.jpg": (exif_rotated, (30, 40)),
    }
    return {name: (_write(root / name, make), size) for name, (make, size) in cases.items()}


def _mask_for(size: tuple[int, int], path: Path) -> Path:
    w, h = size
    m = np.zeros((h, w), np.uint8)
    m[h // 4 : h // 2, w // 4 : w // 2] = 255
    Image.fromarray(m).save(path)
    return path


COMMANDS = ["inpaint", "colorize", "complete"]


def _argv(cmd: str, image: Path, out: Path, models: dict, mask: Path | None = None) -> list[str]:
    model = models["gan" if cmd == "complete" else cmd]
    argv = [cmd, "--image", str(image), "--out", str(out), "--model", model]
    if cmd == "inpaint" and mask is not None:
        argv += ["--mask", str(mask)]
    if cmd == "complete":
        argv += ["--mask", str(mask)] if mask is not None else ["--keep", "eyes"]
        argv += ["--samples", "2"]
    return argv


def _outputs(out: Path) -> list[Path]:
    if out.is_dir():
        return sorted(p for p in out.rglob("*") if p.is_file())
    return [out] if out.exists() else []


def _check_error(rc: int, err: str, name: str, out: Path) -> None:
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1 and lines[0].startswith("genrestore: error:"), err
    assert name in lines[0], err
    assert "Traceback" not in err
    assert _outputs(out) == [], "no partial output may be left behind"


@pytest.mark.parametrize("cmd", COMMANDS)
def test_corpus_of_images(tmp_path, capsys, models, cmd):
    handled = 0
    corpus = _corpus(tmp_path / "in")
    for name, (path, size) in corpus.items():
        stem = path.name.replace(".", "-")
        (tmp_path / "out").mkdir(exist_ok=True)
        out = tmp_path / "out" / (stem if cmd == "complete" else f"{stem}.png")
        mask = None
        if cmd == "inpaint":  # a mask of the result's size (40x30 for the broken files)
            (tmp_path / "masks").mkdir(exist_ok=True)
            mask = _mask_for(size or (40, 30), tmp_path / "masks" / f"{path.stem}.png")
        rc, _, err = run_cli(capsys, *_argv(cmd, path, out, models, mask))
        if size is None:
            _check_error(rc, err, name, out)
        else:
            assert rc == 0, (name, err)
            assert "Traceback" not in err
            results = _outputs(out)
            assert results, name
            for r in results:
                with Image.open(r) as im:
                    assert im.size == size, (name, r)
        handled += 1
    assert handled == len(corpus) == 11


@pytest.mark.parametrize("cmd", ["inpaint", "complete"])
def test_masks_that_do_not_fit(tmp_path, capsys, models, cmd):
    img = tmp_path / "face.png"
    _rgb(40, 30).save(img)
    cases = {
        "other-size.png": (lambda p: _mask_for((41, 30), p), "41x30"),
        "all-missing.png": (lambda p: Image.new("L", (40, 30), 255).save(p), "whole"),
        "not-an-image.png": (lambda p: p.write_text("nope"), "not a readable image"),
        "missing-mask.png": (lambda p: None, "no such"),
    }
    for name, (make, words) in cases.items():
        mask = tmp_path / "m" / name
        mask.parent.mkdir(exist_ok=True)
        make(mask)
        (tmp_path / "out").mkdir(exist_ok=True)
        out = tmp_path / "out" / (f"r-{Path(name).stem}" if cmd == "complete" else f"r-{name}")
        rc, _, err = run_cli(capsys, *_argv(cmd, img, out, models, mask))
        _check_error(rc, err, name, out)
        assert words in err, (name, err)


@pytest.mark.parametrize("cmd", ["inpaint", "complete"])
def test_all_known_mask_returns_the_input(tmp_path, capsys, models, cmd):
    img = tmp_path / "face.png"
    _rgb(40, 30).save(img)
    mask = tmp_path / "known.png"
    Image.new("L", (40, 30), 0).save(mask)
    out = tmp_path / ("r" if cmd == "complete" else "r.png")
    rc, _, err = run_cli(capsys, *_argv(cmd, img, out, models, mask))
    assert rc == 0, err
    assert _outputs(out)
    with Image.open(img) as original:
        expected = np.asarray(original)
    for r in _outputs(out):
        with Image.open(r) as im:
            assert np.array_equal(np.asarray(im), expected)


@pytest.mark.parametrize("cmd", COMMANDS)
def test_paths_that_do_not_work(tmp_path, capsys, models, cmd):
    img = tmp_path / "face.png"
    _rgb(40, 30).save(img)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (tmp_path / "nope.png", tmp_path / "o" / "r.png", "nope.png"),  # input does not exist
        (empty, tmp_path / "o2", "empty"),  # a folder with no images
        (img, blocker / "r.png", "a-file"),  # output under a file: cannot be written
    ]
    for src, out, name in cases:
        rc, _, err = run_cli(capsys, *_argv(cmd, src, out, models))
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("genrestore: error:"), err
        assert name in lines[0] and "Traceback" not in err, err


def test_batch_killed_midway_then_rerun_finishes_without_redoing(tmp_path, models):
    """SIGKILL a batch job midway; the re-run completes the rest and keeps finished files."""
    import os
    import signal
    import subprocess
    import sys
    import time

    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(150):
        _rgb(48, 40, seed=i).save(src / f"{i:03d}.png")
    argv = [sys.executable, "-m", "genrestore.cli", "colorize", "--image", str(src), "--out",
            str(out), "--model", models["colorize"], "--batch-size", "4", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(list(out.glob("*.png"))) >= 20:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 0 < len(done) < 150, len(done)  # killed midway
    rerun = subprocess.run(argv, capture_output=True, text=True, check=False, env=dict(os.environ))
    assert rerun.returncode == 0, rerun.stderr
    assert f"skipped {len(done)} already done" in rerun.stderr
    finals = sorted(out.glob("*.png"))
    assert len(finals) == 150
    for p in finals:
        with Image.open(p) as im:  # every output is a whole, readable image
            im.load()
            assert im.size == (48, 40)
        if p.name in done:
            assert p.stat().st_mtime_ns == done[p.name]  # finished files were not redone
