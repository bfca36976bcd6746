"""``genrestore inpaint`` and ``colorize``: single files, batch folders, resume, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error as _assert_one_line_error
from cli_helpers import run_cli as _run
from cli_helpers import write_tiny_checkpoints
from PIL import Image

from genrestore import cli, tasks
from genrestore.cli import batch
from genrestore.config import ColorizeConfig, GANConfig, InpaintConfig

TINY = {
    "inpaint": InpaintConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "colorize": ColorizeConfig(size=16, nf=8, depth=2, n_res=1, ndf=8),
    "gan": GANConfig(size=16, ngf=8, ndf=8, nz=8),
}
OLD = 1_000_000_000  # an mtime in the past, to see whether a file was rewritten


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, str]:
    """Untrained tiny checkpoints per family, built once: {family: path}."""
    return write_tiny_checkpoints(tmp_path_factory.mktemp("models"), TINY)


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("GENRESTORE_DEBUG", raising=False)


def _image(path: Path, w: int, h: int, seed: int = 0, mode: str = "RGB") -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    Image.fromarray(arr, mode).save(path)
    return arr


def _mask(path: Path, w: int, h: int) -> np.ndarray:
    """A white box (missing) in the middle of a black (known) mask; returns bool missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    missing = np.zeros((h, w), dtype=bool)
    missing[h // 4 : h // 2, w // 3 : 2 * w // 3] = True
    Image.fromarray(missing.astype(np.uint8) * 255).save(path)
    return missing


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


# --- single files ---------------------------------------------------------------------------


def test_inpaint_single_keeps_known_pixels_and_size(capsys, tmp_path, models):
    rgb = _image(tmp_path / "odd.png", 37, 101)
    missing = _mask(tmp_path / "odd-mask.png", 37, 101)
    out = tmp_path / "fixed.png"
    rc, stdout, err = _run(
        capsys, "inpaint", "--image", str(tmp_path / "odd.png"),
        "--mask", str(tmp_path / "odd-mask.png"), "--out", str(out), "--model", models["inpaint"],
    )  # fmt: skip
    assert rc == 0, err
    assert str(out) in stdout
    res = np.asarray(Image.open(out).convert("RGB"))
    assert res.shape == rgb.shape
    assert np.array_equal(res[~missing], rgb[~missing])
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_inpaint_rgba_without_mask_into_a_folder(capsys, tmp_path, models):
    rgba = _image(tmp_path / "cut.png", 40, 24, mode="RGBA")
    rgba[..., 3] = 255
    rgba[5:15, 10:30, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut.png")
    (tmp_path / "results").mkdir()
    rc, _, err = _run(
        capsys, "inpaint", "--image", str(tmp_path / "cut.png"),
        "--out", str(tmp_path / "results"), "--model", models["inpaint"],
    )  # fmt: skip
    assert rc == 0, err
    res = np.asarray(Image.open(tmp_path / "results" / "cut.png"))
    known = rgba[..., 3] == 255
    assert res.shape == (24, 40, 3)
    assert np.array_equal(res[known], rgba[..., :3][known])


def test_colorize_single_keeps_size_and_luminance(capsys, tmp_path, models):
    rgb = _image(tmp_path / "photo.jpg", 30, 21)
    rc, _, err = _run(
        capsys, "colorize", "--image", str(tmp_path / "photo.jpg"),
        "--out", str(tmp_path / "color.png"), "--model", models["colorize"],
    )  # fmt: skip
    assert rc == 0, err
    res = Image.open(tmp_path / "color.png")
    assert res.size == (30, 21) and res.mode == "RGB"
    gray_in = np.asarray(Image.open(tmp_path / "photo.jpg").convert("L"), dtype=float)
    gray_out = np.asarray(res.convert("L"), dtype=float)
    assert rgb.shape == (21, 30, 3)
    assert np.abs(gray_out - gray_in).mean() < 3  # L kept; only rounding and gamut clipping


def test_colorize_help_says_gray_first_and_luminance_kept(capsys):
    with pytest.raises(SystemExit):
        cli.main(["colorize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "converted to gray first" in text and "luminance" in text


# --- batch folders --------------------------------------------------------------------------


def _batch_tree(root: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """3 good images (one in a subfolder), a corrupt file, one without mask, one mismatched."""
    imgs, masks = root / "imgs", root / "masks"
    good = {
        "a.png": _image(imgs / "a.png", 20, 30, seed=1),
        "b.bmp": _image(imgs / "b.bmp", 33, 17, seed=2),
        "sub/c.png": _image(imgs / "sub" / "c.png", 16, 16, seed=3),
    }
    _mask(masks / "a.png", 20, 30)
    _mask(masks / "b.png", 33, 17)  # any suffix matches by stem
    _mask(masks / "sub" / "c.bmp", 16, 16)  # the subfolder is respected
    _mask(masks / "c.png", 16, 16)  # a top-level c mask belongs to a top-level c only
    (imgs / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    _mask(masks / "corrupt.png", 20, 20)
    _image(imgs / "nomask.png", 20, 20, seed=4)
    _image(imgs / "wrongsize.png", 20, 20, seed=5)
    _mask(masks / "wrongsize.png", 21, 20)
    _image(imgs / ".hidden.png", 20, 20, seed=6)  # hidden: not part of the job
    (imgs / "notes.txt").write_text("not an image, not part of the job")
    return imgs, masks, good


def test_inpaint_batch_skips_bad_files_resumes_and_overwrites(capsys, tmp_path, models):
    imgs, masks, good = _batch_tree(tmp_path)
    out = tmp_path / "out" / "nested"  # created with its parents
    argv = ["inpaint", "--image", str(imgs), "--mask", str(masks), "--out", str(out)]
    argv += ["--model", models["inpaint"], "--no-progress"]

    rc, _, err = _run(capsys, *argv)
    assert rc == 1, err
    assert _files(out) == ["a.png", "b.bmp", "sub/c.png"]
    assert "restored 3, skipped 0 already done, failed 3" in err
    failed = {ln.split(": ", 1)[0]: ln for ln in err.splitlines() if ln.startswith("  FAILED ")}
    assert set(failed) == {
        f"  FAILED {imgs / n}" for n in ("corrupt.png", "nomask.png", "wrongsize.png")
    }
    assert "not a readable image" in failed[f"  FAILED {imgs / 'corrupt.png'}"]
    assert "no mask" in failed[f"  FAILED {imgs / 'nomask.png'}"]
    assert "mask is 21x20 but the image is 20x20" in failed[f"  FAILED {imgs / 'wrongsize.png'}"]
    assert "Traceback" not in err
    missing = np.asarray(Image.open(masks / "a.png")) > 127
    res = np.asarray(Image.open(out / "a.png"))
    assert res.shape == good["a.png"].shape
    assert np.array_equal(res[~missing], good["a.png"][~missing])
    for name in good:
        assert Image.open(out / name).size == Image.open(imgs / name).size

    for p in out.rglob("*"):
        if p.is_file():
            os.utime(p, (OLD, OLD))
    rc, _, err = _run(capsys, *argv)
    assert rc == 1
    assert "restored 0, skipped 3 already done, failed 3" in err
    assert _files(out) == ["a.png", "b.bmp", "sub/c.png"]
    assert all(p.stat().st_mtime == OLD for p in out.rglob("*") if p.is_file())

    rc, _, err = _run(capsys, *argv, "--overwrite")
    assert rc == 1
    assert "restored 3, skipped 0 already done, failed 3" in err
    assert all(p.stat().st_mtime != OLD for p in out.rglob("*") if p.is_file())


def test_inpaint_batch_all_good_exits_0(capsys, tmp_path, models):
    for i, name in enumerate(["x.png", "deep/er/y.png"]):
        rgba = _image(tmp_path / "in" / name, 24, 18, seed=i, mode="RGBA")
        rgba[..., 3] = 255
        rgba[2:8, 3:9, 3] = 0
        Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / name)
    rc, _, err = _run(
        capsys, "inpaint", "--image", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
        "--model", models["inpaint"],
    )  # fmt: skip
    assert rc == 0, err
    assert "restored 2, skipped 0 already done, failed 0" in err
    assert "FAILED" not in err
    assert _files(tmp_path / "out") == ["deep/er/y.png", "x.png"]


def test_colorize_batch(capsys, tmp_path, models):
    _image(tmp_path / "in" / "p.jpg", 25, 19, seed=1)
    _image(tmp_path / "in" / "sub" / "q.png", 18, 22, seed=2)
    rc, _, err = _run(
        capsys, "colorize", "--image", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
        "--model", models["colorize"], "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert "restored 2, skipped 0 already done, failed 0" in err
    assert _files(tmp_path / "out") == ["p.jpg", "sub/q.png"]
    assert Image.open(tmp_path / "out" / "sub" / "q.png").size == (18, 22)


def _batch_sizes(monkeypatch, task_class) -> list[int]:
    """Record how many inputs each forward pass of ``task_class`` gets."""
    sizes = []
    real = task_class.batch_prepared

    def recording(self, prepared):
        sizes.append(len(prepared))
        return real(self, prepared)

    monkeypatch.setattr(task_class, "batch_prepared", recording)
    return sizes


def test_batch_really_batches(capsys, tmp_path, models, monkeypatch):
    sizes = _batch_sizes(monkeypatch, tasks.Inpainter)
    for i in range(5):
        _image(tmp_path / "in" / f"{i}.png", 16 + i, 20, seed=i)
        _mask(tmp_path / "masks" / f"{i}.png", 16 + i, 20)
    rc, _, err = _run(
        capsys, "inpaint", "--image", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"),
        "--out", str(tmp_path / "out"), "--model", models["inpaint"], "--batch-size", "4",
        "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert sizes == [4, 1]


def test_big_inputs_end_a_chunk_early(capsys, tmp_path, models, monkeypatch):
    """Chunks are bounded by decoded bytes too: many large photos never sit in memory at once."""
    sizes = _batch_sizes(monkeypatch, tasks.Colorizer)
    monkeypatch.setattr(batch, "CHUNK_BYTES", 2 * 40 * 40)  # two 40x40 gray inputs
    for i in range(5):
        _image(tmp_path / "in" / f"{i}.png", 40, 40, seed=i)
    rc, _, err = _run(
        capsys, "colorize", "--image", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
        "--model", models["colorize"], "--batch-size", "64", "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert sizes == [2, 2, 1]
    assert _files(tmp_path / "out") == [f"{i}.png" for i in range(5)]


def test_a_failing_batch_is_retried_file_by_file(capsys, tmp_path, models, monkeypatch):
    real = tasks.Colorizer.batch_prepared

    def only_one_at_a_time(self, grays):
        if len(grays) > 1:
            raise RuntimeError("out of memory")
        if grays[0].shape == (20, 21):
            raise RuntimeError("this one breaks the network")
        return real(self, grays)

    monkeypatch.setattr(tasks.Colorizer, "batch_prepared", only_one_at_a_time)
    for i in range(3):
        _image(tmp_path / "in" / f"{i}.png", 20 + i, 20, seed=i)
    rc, _, err = _run(
        capsys, "colorize", "--image", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
        "--model", models["colorize"], "--no-progress",
    )  # fmt: skip
    assert rc == 1
    assert "restored 2, skipped 0 already done, failed 1" in err
    assert f"FAILED {tmp_path / 'in' / '1.png'}: RuntimeError: this one breaks" in err
    assert _files(tmp_path / "out") == ["0.png", "2.png"]


# --- errors at the edge ---------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path) -> Path:
    _image(tmp_path / "img.png", 20, 20)
    _mask(tmp_path / "mask.png", 20, 20)
    _mask(tmp_path / "big-mask.png", 24, 20)
    _image(tmp_path / "tiny.png", 1, 1)
    _image(tmp_path / "folder" / "img.png", 20, 20)
    _mask(tmp_path / "masks" / "img.png", 20, 20)
    (tmp_path / "a-file.txt").write_text("a file where a folder should be")
    return tmp_path


@pytest.mark.parametrize(
    "command,args,words",
    [
        ("inpaint", ["--image", "nope.png", "--mask", "mask.png"], ["nope.png", "no such file"]),
        ("colorize", ["--image", "nope"], ["nope", "no such file"]),
        ("inpaint", ["--image", "img.png", "--mask", "nope.png"], ["nope.png", "no such"]),
        ("inpaint", ["--image", "folder", "--mask", "mask.png"], ["is a folder", "is a file"]),
        ("inpaint", ["--image", "img.png", "--mask", "masks"], ["is a file", "is a folder"]),
        ("inpaint", ["--image", "tiny.png", "--mask", "mask.png"], ["1x1", "at least 8x8"]),
        ("colorize", ["--image", "tiny.png"], ["1x1", "at least 8x8"]),
        ("inpaint", ["--image", "img.png", "--mask", "big-mask.png"], ["mask is 24x20"]),
        ("inpaint", ["--image", "img.png"], ["no mask given", "transparent"]),
        ("colorize", ["--image", "img.png", "--out", "x.tiff"], ["unknown image type .tiff"]),
        ("colorize", ["--image", "img.png", "--out", "x"], ["unknown image type"]),
        ("colorize", ["--image", "img.png", "--out", "a-file.txt/x.png"], ["does not exist"]),
        ("colorize", ["--image", "img.png", "--out", "img.png"], ["is an input file"]),
        ("colorize", ["--image", "folder", "--out", "a-file.txt"], ["must be a folder"]),
        ("colorize", ["--image", "folder", "--out", "a-file.txt/sub"], ["cannot write"]),
        ("colorize", ["--image", "folder", "--out", "o.png"], ["must be a folder"]),
        ("colorize", ["--image", "folder", "--out", "folder"], ["is an input folder"]),
        ("inpaint", ["--image", "folder", "--mask", "masks", "--out", "masks"], ["input folder"]),
        ("inpaint", ["--image", "img.png", "--model", "gan"], ["'gan' model", "'inpaint'"]),
        ("colorize", ["--image", "img.png", "--model", "inpaint"], ["'inpaint' model"]),
        ("colorize", ["--image", "img.png", "--model", "nope.safetensors"], ["no such checkpoint"]),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, inputs, models, monkeypatch, command, args, words):
    monkeypatch.chdir(inputs)
    argv = [command, *args]
    if "--out" not in argv:
        argv += ["--out", "result.png"]
    if "--model" not in argv:
        argv += ["--model", models[command]]
    else:
        i = argv.index("--model") + 1
        argv[i] = models.get(argv[i], argv[i])
    before = _files(inputs)
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    _assert_one_line_error(err, *words)
    assert _files(inputs) == before  # nothing written


def test_a_mask_folder_inside_the_image_folder_is_not_an_input(capsys, tmp_path, models):
    _image(tmp_path / "photos" / "a.png", 20, 20)
    _mask(tmp_path / "photos" / "masks" / "a.png", 20, 20)
    rc, _, err = _run(
        capsys, "inpaint", "--image", str(tmp_path / "photos"),
        "--mask", str(tmp_path / "photos" / "masks"), "--out", str(tmp_path / "photos" / "out"),
        "--model", models["inpaint"], "--no-progress",
    )  # fmt: skip
    assert rc == 0, err
    assert "restored 1, skipped 0 already done, failed 0" in err
    assert _files(tmp_path / "photos" / "out") == ["a.png"]
