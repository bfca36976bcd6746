"""Tests for genrestore.data.folder: scanning, cropping, skipping bad files, the cache."""

from __future__ import annotations

import concurrent.futures as cf
import io
import logging
import os
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genrestore.data import folder
from genrestore.data.folder import FolderData, load_folder, prepare_image, scan_images
from genrestore.errors import UserError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
SIZE = 16


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))


def solid(w: int, h: int, color) -> Image.Image:
    return Image.new("RGB", (w, h), color)


def thirds(w: int, h: int, outer, middle) -> Image.Image:
    """Left and right thirds ``outer``, middle third ``middle``, split along the long side."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:] = outer
    if w >= h:
        a[:, w // 3 : w - w // 3] = middle
    else:
        a[h // 3 : h - h // 3, :] = middle
    return Image.fromarray(a)


def make_folder(root: Path) -> dict[str, str]:
    """A messy photo folder; returns {relative path: what it is} for the good images."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    thirds(90, 30, RED, BLUE).save(root / "wide.png")  # center crop = the blue middle
    thirds(30, 90, RED, GREEN).save(root / "sub" / "tall.jpg", quality=95)
    solid(40, 40, GREEN).save(root / "sub" / "deeper" / "green.webp", quality=95)
    solid(50, 20, BLUE).save(root / "sub" / "blue.bmp")
    solid(24, 24, RED).save(root / "UPPER.JPEG", quality=95)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[:, 16:] = (0, 0, 255, 255)  # left half fully transparent -> white
    Image.fromarray(rgba, "RGBA").save(root / "alpha.png")
    rot = np.zeros((40, 60, 3), np.uint8)  # stored: top red, bottom blue
    rot[:20], rot[20:] = RED, BLUE
    img = Image.fromarray(rot)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display: left blue, right red
    img.save(root / "rotated.jpg", exif=exif, quality=95)
    # bad files
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="JPEG", quality=95)
    (root / "sub" / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "notes.png").write_text("this is not a png\n")
    (root / "empty.jpg").write_bytes(b"")
    # ignored files
    solid(20, 20, RED).save(root / ".hidden.png")
    solid(20, 20, RED).save(root / ".hidden_dir" / "inside.png")
    (root / "readme.txt").write_text("hello")
    return {
        "UPPER.JPEG": "red",
        "alpha.png": "rgba",
        "rotated.jpg": "rotated",
        "sub/blue.bmp": "blue",
        "sub/deeper/green.webp": "green",
        "sub/tall.jpg": "tall",
        "wide.png": "wide",
    }


BAD = {"empty.jpg", "notes.png", "sub/truncated.jpg"}


def mean_color(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, 3).astype(float).mean(0)


def test_scan_images_recursive_sorted_skips_hidden(tmp_path):
    good = make_folder(tmp_path / "photos")
    found = scan_images(tmp_path / "photos")
    rels = [p.relative_to(tmp_path / "photos").as_posix() for p in found]
    assert rels == sorted(set(good) | BAD)
    assert all(isinstance(p, Path) and p.is_file() for p in found)


def test_scan_images_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        scan_images(tmp_path / "missing")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(UserError, match="not a folder"):
        scan_images(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no jpg/png/webp/bmp images"):
        scan_images(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hi")
    (tmp_path / "text" / ".hidden.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match="no jpg/png/webp/bmp images"):
        scan_images(tmp_path / "text")


def test_prepare_image_center_crop():
    wide = prepare_image(thirds(90, 30, RED, BLUE), SIZE)
    assert wide.shape == (SIZE, SIZE, 3) and wide.dtype == np.uint8
    np.testing.assert_allclose(mean_color(wide), BLUE, atol=3)
    tall = prepare_image(thirds(31, 93, RED, GREEN), 8)  # odd sizes, downscale to 8
    assert tall.shape == (8, 8, 3)
    np.testing.assert_allclose(mean_color(tall), GREEN, atol=3)
    # a square keeps its layout: left half red, right half blue, upscaled
    sq = np.zeros((10, 10, 3), np.uint8)
    sq[:, :5], sq[:, 5:] = RED, BLUE
    out = prepare_image(Image.fromarray(sq), 20)
    assert (out[:, :8, 0] > 200).all() and (out[:, 12:, 2] > 200).all()
    # any mode in, RGB out
    assert prepare_image(Image.new("L", (12, 9), 128), 4).shape == (4, 4, 3)


def test_load_folder_decodes_and_skips(tmp_path, caplog):
    root = tmp_path / "photos"
    good = make_folder(root)
    with caplog.at_level(logging.WARNING, logger="genrestore"):
        data = load_folder(root, SIZE, progress=False)
    assert isinstance(data, FolderData)
    assert data.paths == sorted(good)
    assert data.images.shape == (len(good), SIZE, SIZE, 3)
    assert data.images.dtype == np.uint8
    assert isinstance(data.images, np.memmap)
    skipped = dict(data.skipped)
    assert set(skipped) == BAD
    assert "empty" in skipped["empty.jpg"]
    assert "not a readable image" in skipped["notes.png"]
    assert "decode" in skipped["sub/truncated.jpg"]
    for reason in skipped.values():
        assert "\n" not in reason and str(root) not in reason
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for rel in BAD:
        assert sum(m.startswith(f"{root / rel}: skipped (") for m in warned) == 1

    img = dict(zip(data.paths, data.images))
    np.testing.assert_allclose(mean_color(img["wide.png"]), BLUE, atol=3)
    np.testing.assert_allclose(mean_color(img["sub/tall.jpg"]), GREEN, atol=6)
    np.testing.assert_allclose(mean_color(img["sub/deeper/green.webp"]), GREEN, atol=6)
    np.testing.assert_allclose(mean_color(img["sub/blue.bmp"]), BLUE, atol=1)
    np.testing.assert_allclose(mean_color(img["UPPER.JPEG"]), RED, atol=6)
    alpha = img["alpha.png"]
    assert (alpha[:, :6] > 250).all()  # transparent half composited on white
    assert (alpha[:, 10:, 2] > 250).all() and (alpha[:, 10:, :2] < 5).all()
    rotated = img["rotated.jpg"]  # EXIF applied: left blue, right red (stored: top red)
    np.testing.assert_allclose(mean_color(rotated[:, :5]), BLUE, atol=20)
    np.testing.assert_allclose(mean_color(rotated[:, -5:]), RED, atol=20)
    # no temp files left behind; the cache holds one array and its JSON
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(cached) == 2 and cached[0].endswith(".json") and cached[1].endswith(".npy")
    assert all(name.startswith("folder-") for name in cached)


def test_second_call_uses_cache(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_folder(root)
    first = load_folder(root, SIZE, progress=False)
    expected = np.array(first.images)

    def refuse(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(folder, "open_image", refuse)
    t0 = time.perf_counter()
    second = load_folder(root, SIZE, progress=False)
    assert time.perf_counter() - t0 < 1.0
    np.testing.assert_array_equal(second.images, expected)
    assert second.paths == first.paths and second.skipped == first.skipped
    # another size is another cache entry: it must decode (and here fail, on every file)
    with pytest.raises(UserError, match=r"all 10 image files failed.*first: "):
        load_folder(root, SIZE * 2, progress=False)


def test_changed_file_rebuilds(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_folder(root)
    first = load_folder(root, SIZE, progress=False)
    i = first.paths.index("sub/blue.bmp")
    np.testing.assert_allclose(mean_color(first.images[i]), BLUE, atol=1)

    calls = []
    real_open = folder.open_image
    monkeypatch.setattr(folder, "open_image", lambda src: calls.append(src) or real_open(src))
    path = root / "sub" / "blue.bmp"
    solid(60, 20, RED).save(path)  # new content, new byte size
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = load_folder(root, SIZE, progress=False)
    assert calls == [str(path)]  # only the changed file is decoded again
    np.testing.assert_allclose(mean_color(second.images[i]), RED, atol=1)

    calls.clear()  # same size, new mtime only: decoded again too
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    load_folder(root, SIZE, progress=False)
    assert calls == [str(path)]
    calls.clear()  # unchanged: no decoding
    load_folder(root, SIZE, progress=False)
    assert calls == []


def test_load_folder_errors(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        load_folder(tmp_path / "missing", SIZE, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no jpg/png/webp/bmp images"):
        load_folder(tmp_path / "empty", SIZE, progress=False)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="no jpg/png/webp/bmp images"):
        load_folder(tmp_path / "text", SIZE, progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"")
    (bad / "b.png").write_text("not an image")
    with pytest.raises(UserError, match=r"all 2 image files failed .*first: a\.jpg: empty file"):
        load_folder(bad, SIZE, progress=False)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # nothing half-written
    with pytest.raises(UserError, match="size"):
        load_folder(bad, 0, progress=False)


def test_progress_bar_on_stderr(tmp_path, capsys):
    root = tmp_path / "p"
    root.mkdir()
    solid(20, 20, RED).save(root / "a.png")
    load_folder(root, 8, progress=True)
    err = capsys.readouterr().err
    assert f"decoding {root}" in err and "img" in err


def test_parallel_matches_sequential(tmp_path, monkeypatch):
    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(1)
    for i in range(70):
        h, w = rng.integers(10, 24, size=2)
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(a).save(root / f"img{i:02d}.{'png' if i % 2 else 'jpg'}")
    (root / "img34.jpg").write_text("broken")  # replaces a good one: one skipped row
    sequential = load_folder(root, 8, progress=False, workers=1)

    # a fresh cache, and the parent may not decode: workers must do it all
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache2"))
    real_open = folder.open_image

    def parent_refuses(*args, **kwargs):
        raise AssertionError("decoded in the parent process")

    monkeypatch.setattr(folder, "open_image", parent_refuses)
    parallel = load_folder(root, 8, progress=False, workers=2)
    monkeypatch.setattr(folder, "open_image", real_open)

    assert parallel.paths == sequential.paths and len(parallel.paths) == 69
    assert [rel for rel, _ in parallel.skipped] == ["img34.jpg"]
    assert parallel.skipped == sequential.skipped
    np.testing.assert_array_equal(parallel.images, sequential.images)
    first = np.asarray(prepare_image(real_open(root / "img00.jpg"), 8))
    np.testing.assert_array_equal(parallel.images[0], first)


def _same_data(a: FolderData, b: FolderData) -> None:
    assert a.paths == b.paths and a.skipped == b.skipped
    np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))


def _load_counting(root: Path) -> tuple[FolderData, list[str]]:
    """load_folder, and the names of the files that call really decoded."""
    seen: list[str] = []
    data = load_folder(root, SIZE, progress=False, on_decoded=lambda rel, _: seen.append(rel))
    return data, [os.path.basename(rel) for rel in seen]


def _interrupted_build(root: Path, after: int) -> None:
    """Build ``root``'s cache, pressing Ctrl-C once ``after`` files are decoded."""
    count = []

    def interrupt(rel, reason):
        count.append(rel)
        if len(count) == after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_folder(root, SIZE, progress=False, on_decoded=interrupt)


def test_interrupted_build_resumes_where_it_stopped(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_folder(root)
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "clean"))
    clean = load_folder(root, SIZE, progress=False)  # 10 files, 3 of them bad
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))
    _interrupted_build(root, after=4)  # the 4 include empty.jpg and notes.png
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [n.split(".", 1)[1] for n in left] == ["partial.json", "partial.npy"]  # no final

    resumed, seen = _load_counting(root)
    assert len(seen) == 6 and "empty.jpg" not in seen and "UPPER.JPEG" not in seen
    _same_data(resumed, clean)  # the failures decoded before the interrupt are still listed
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [n.rsplit(".", 1)[1] for n in cached] == ["json", "npy"]  # partial files gone


KILLED_BUILD = """
import os, signal, sys
from genrestore.data import folder
folder.PROGRESS_EVERY = 0  # record progress after every file
calls = []
def dies(rel, reason):
    calls.append(rel)
    if len(calls) == 6:  # the 6th file is stored and recorded: SIGKILL before the 7th
        os.kill(os.getpid(), signal.SIGKILL)
folder.load_folder(sys.argv[1], int(sys.argv[2]), progress=False, workers=1, on_decoded=dies)
"""


def test_killed_build_resumes(tmp_path, monkeypatch):
    import subprocess
    import sys

    root = tmp_path / "photos"
    make_folder(root)
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "clean"))
    clean = load_folder(root, SIZE, progress=False)
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(root), str(SIZE)],
        check=False,
        capture_output=True,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    resumed, seen = _load_counting(root)
    assert len(seen) == 4  # files 1-6 were recorded before the kill: only 7-10 decode again
    _same_data(resumed, clean)


def test_concurrent_builds_share_one_cache(tmp_path):
    """Two processes asking for the same folder at once (torchrun ranks): one decodes."""
    import subprocess
    import sys

    root = tmp_path / "photos"
    make_folder(root)
    script = (
        "import sys; from genrestore.data import folder\n"
        "def slow(rel, reason):\n"
        "    import time; time.sleep(0.2); print('decoded', flush=True)\n"
        "folder.load_folder(sys.argv[1], 16, progress=False, workers=1, on_decoded=slow)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sorted(o.count("decoded") for o in outs) == [0, 10]
    assert len(list((tmp_path / "cache").glob("folder-*.npy"))) == 1


def test_broken_pool_falls_back_to_one_process(tmp_path, monkeypatch, caplog):
    root = tmp_path / "many"
    root.mkdir()
    rng = np.random.default_rng(2)
    for i in range(66):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / f"{i}.png")
    expected = load_folder(root, 8, progress=False, workers=1)
    submitted = []

    class BrokenPool:  # every task dies, as when spawn cannot re-import __main__
        def __init__(self, max_workers, mp_context):
            assert mp_context.get_start_method() == "spawn"

        def submit(self, fn, *args):
            submitted.append(args)
            future = cf.Future()
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return future

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "cache2"))
    monkeypatch.setattr(folder, "ProcessPoolExecutor", BrokenPool)
    with caplog.at_level(logging.WARNING, logger="genrestore"):
        got = load_folder(root, 8, progress=False, workers=3)
    assert submitted and "decoding workers failed" in caplog.text
    assert got.paths == expected.paths and got.skipped == []
    np.testing.assert_array_equal(got.images, expected.images)


def test_a_changed_folder_replaces_its_old_cache(tmp_path, caplog):
    root = tmp_path / "photos"
    make_folder(root)
    load_folder(root, SIZE, progress=False)
    load_folder(root, 8, progress=False)  # another size: a different cache, kept
    solid(30, 30, GREEN).save(root / "new.png")
    with caplog.at_level(logging.INFO, logger="genrestore"):
        data = load_folder(root, SIZE, progress=False)
    assert "new.png" in data.paths and "removed its outdated cache" in caplog.text
    cache = tmp_path / "cache"
    shapes = sorted(np.load(p, mmap_mode="r").shape[1] for p in cache.glob("folder-*.npy"))
    assert shapes == [8, SIZE]  # one cache per size: the old 16 px one is gone


def test_an_unfinished_build_of_an_older_folder_is_removed(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_folder(root)
    _interrupted_build(root, after=2)
    (root / "wide.png").unlink()  # the folder changes before the rerun
    load_folder(root, SIZE, progress=False)
    assert not list((tmp_path / "cache").glob("*partial*"))
    assert len(list((tmp_path / "cache").glob("folder-*.npy"))) == 1


def test_a_changed_folder_decodes_only_what_changed(tmp_path, monkeypatch):
    root = tmp_path / "photos"
    make_folder(root)
    load_folder(root, SIZE, progress=False)
    solid(30, 30, GREEN).save(root / "new.png")  # added
    solid(44, 44, BLUE).save(root / "UPPER.JPEG", quality=95)  # edited (red -> blue)
    (root / "wide.png").unlink()  # removed
    data, seen = _load_counting(root)
    assert sorted(seen) == ["UPPER.JPEG", "new.png"]  # the other 8 (3 bad) were taken over
    monkeypatch.setenv("GENRESTORE_CACHE", str(tmp_path / "clean"))
    _same_data(data, load_folder(root, SIZE, progress=False))
    np.testing.assert_allclose(
        mean_color(data.images[data.paths.index("UPPER.JPEG")]), BLUE, atol=20
    )
    assert len(list((tmp_path / "cache").glob("folder-*"))) == 2  # one .npy + one .json
