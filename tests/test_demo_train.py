"""The demo's Train tab, driven in headless Chromium, and its upload checks.

A demo server (tiny untrained checkpoints, its own --runs-dir) trains a 16 px VAE on 64
built-in faces through the UI: a preview grid appears, Stop saves the run, the run joins
the Generate tab's models and generates, Resume continues it while the other tabs keep
answering, and the run downloads as .safetensors + card. Then a run on uploaded photos (a
zip with unsafe and broken members) lists what it left out. The screenshot of the tab
mid-training goes where test_demo_browser.py puts the others ($GENRESTORE_SCREENSHOTS).
"""

from __future__ import annotations

import json
import os
import stat
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import test_demo_browser as demo_browser
from PIL import Image
from test_demo_browser import _loaded_images, _need_gradio, _report, _screenshot, _srcs, _toasts

import genrestore
from genrestore import UserError

browser, shots = demo_browser.browser, demo_browser.shots  # its fixtures, shared

# With $GENRESTORE_SCREENSHOTS set (the README's screenshots), the first run keeps the tab's
# defaults (vae-32, 500 faces, 1,000 steps) and the screenshot waits for faces (SHOT_STEP).
README = bool(os.environ.get("GENRESTORE_SCREENSHOTS"))
SIZE = 32 if README else 16  # the runs' image size: tiny, so a run is seconds of training
SHOT_STEP = 300 if README else 0
STEPS = 1_000 if README else 5_000  # the flow stops the run well before its end
GRID = 8 * (SIZE + 2) + 2  # a sample grid: 8 x 8 faces, image_grid's 2 px padding
SHOWN = GRID * -(-400 // GRID)  # the tab enlarges it by a whole factor to at least 400 px
RUN = f"vae-{SIZE}-001"  # the first run's folder; "run: NAME" in the model dropdowns
WAIT_MS = 600_000 if README else 120_000  # a busy 2-core machine is slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The demo with its runs in a folder of this test's (``--runs-dir``)."""
    _need_gradio()
    tmp = tmp_path_factory.mktemp("demo-train")
    with demo_browser.serve_demo(tmp, "--runs-dir", str(tmp / "runs")) as s:
        s.runs_dir = tmp / "runs"
        yield s


@pytest.fixture
def page(browser, served):
    """A page of this module's server, on the Train tab."""
    with demo_browser.open_demo(browser, served.url, WAIT_MS) as pg:
        pg.click("#tab-train-button")
        yield pg


# --- helpers ----------------------------------------------------------------------------------


def _choose(pg, elem_id: str, option: str) -> None:
    """Pick ``option`` in the Gradio dropdown ``elem_id``."""
    pg.click(f"#{elem_id} input")
    pg.locator(f"#{elem_id} li[role=option][aria-label='{option}']").click()
    pg.wait_for_function(
        "([id, v]) => document.querySelector(`#${id} input`).value === v",
        arg=[elem_id, option],
    )


def _set_number(pg, elem_id: str, value: int) -> None:
    pg.fill(f"#{elem_id} input", str(value))
    pg.press(f"#{elem_id} input", "Tab")


def _status(pg, *words: str, timeout: int = WAIT_MS) -> str:
    """Wait until the status shows every one of ``words``; return its text."""
    pg.wait_for_function(
        "ws => { const e = document.querySelector('#train-status');"
        " return e !== null && ws.every(w => e.innerText.includes(w)); }",
        arg=list(words),
        timeout=timeout,
    )
    return pg.inner_text("#train-status")


def _download(url: str, path: Path) -> Path:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(url, timeout=60) as resp:
        path.write_bytes(resp.read())
    return path


def _step(text: str) -> int:
    return int(text.split("step ", 1)[1].split(" /", 1)[0].replace(",", ""))


def _past_step(pg, step: int) -> int:
    """Wait until the status shows a step beyond ``step``; return it."""
    pg.wait_for_function(
        "n => { const e = document.querySelector('#train-status');"
        " const m = e && e.innerText.match(/step ([\\d,]+) \\//);"
        " return m !== null && +m[1].replace(/,/g, '') > n; }",
        arg=step,
        timeout=WAIT_MS,
    )
    return _step(pg.inner_text("#train-status"))


def _grid_at(pg, step: int) -> None:
    """Wait until the sample grid of ``step`` or later is shown."""
    pg.wait_for_function(
        "n => { const m = document.body.innerText.match(/Samples of \\S+ at step (\\d+)/);"
        " return m !== null && +m[1] >= n; }",
        arg=step,
        timeout=WAIT_MS,
    )
    _loaded_images(pg, "#train-samples img", 1)


# --- the Train tab in a browser ---------------------------------------------------------------


def test_train_start_preview_stop_then_generate(page, shots, capsys):
    assert "No run yet" in page.inner_text("#train-status")
    assert page.input_value("#train-steps input") == "1000"  # the defaults are filled in
    if not README:  # tiny: 16 px, 64 faces, a grid every 2 steps
        _choose(page, "train-size", str(SIZE))
        _set_number(page, "train-count", 64)
        _set_number(page, "train-every", 2)
        _set_number(page, "train-steps", STEPS)
    t0 = time.perf_counter()
    page.click("#train-start")
    _grid_at(page, 1)
    (grid,) = _loaded_images(page, "#train-samples img", 1)
    dt_preview = time.perf_counter() - t0
    assert grid == (SHOWN, SHOWN)
    _status(page, "training", "img/s", "left", "loss")
    _grid_at(page, SHOT_STEP)
    _screenshot(page, shots / "train.png")
    dt_shot = time.perf_counter() - t0

    page.click("#train-start")  # one run at a time
    assert any("A training run is going" in t for t in _toasts(page))
    before = _srcs(page, "#train-samples img")
    _loaded_images(page, "#train-samples img", 1, after=before)  # the grid refreshes
    page.click("#train-stop")
    stopped_at = _step(_status(page, "stopped", f"run: {RUN}"))
    assert 2 <= stopped_at < STEPS
    dt_stop = time.perf_counter() - t0

    page.click("#tab-generate-button")
    page.wait_for_selector("#gen-model", state="visible")  # a second generator: a choice
    _choose(page, "gen-model", f"run: {RUN}")
    before = _srcs(page, "#gen-gallery img")
    page.click("#gen-run")
    assert _loaded_images(page, "#gen-gallery img", 16, after=before) == [(SIZE, SIZE)] * 16
    _report(
        capsys,
        f"train: first preview {dt_preview:.1f} s after Start, screenshot (step >= "
        f"{SHOT_STEP}) {dt_shot:.1f} s, stopped at step {stopped_at} {dt_stop:.1f} s; "
        "the run generated 16 faces",
    )


def test_train_resume_keeps_other_tabs_answering_and_downloads(page, served, tmp_path, capsys):
    stopped_at = _step(_status(page, "stopped", RUN))  # a new page shows the earlier run
    page.click("#train-resume")
    _status(page, "training")
    _past_step(page, stopped_at + 2)
    page.click("#tab-generate-button")  # while the run trains, another tab answers
    t0 = time.perf_counter()
    page.click("#gen-run")
    _loaded_images(page, "#gen-gallery img", 16)
    dt_generate = time.perf_counter() - t0
    page.click("#tab-train-button")
    _status(page, "training")
    page.click("#train-stop")
    resumed_to = _step(_status(page, "stopped"))
    assert resumed_to > stopped_at + 2

    page.click("#train-download")
    page.wait_for_selector("#train-files a[href*='.json']")
    text = page.inner_text("#train-files").replace("\n", "")  # names show as stem + suffix
    assert f"{RUN}.safetensors" in text and f"{RUN}.json" in text, text
    hrefs = page.eval_on_selector_all("#train-files a", "els => els.map(e => e.href)")
    weights = _download(next(h for h in hrefs if ".safetensors" in h), tmp_path / "w.safetensors")
    model = genrestore.load(weights)  # the card's JSON beside it is optional
    assert model.generate(2, seed=0)[0].size == (SIZE, SIZE)
    cfg = json.loads((served.runs_dir / RUN / "config.json").read_text())
    assert cfg["steps"] == STEPS and cfg["model"]["size"] == SIZE
    _report(
        capsys,
        f"train: resumed {stopped_at} -> {resumed_to}; generate meanwhile {dt_generate:.2f} s",
    )


def test_train_on_uploaded_photos_lists_what_it_left_out(page, served, tmp_path):
    from genrestore.data.avatars import render_face

    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(12):
            path = tmp_path / f"face{i}.png"
            Image.fromarray(render_face(i, 48)).save(path)
            z.write(path, f"faces/face{i}.png")
        z.writestr("faces/broken.png", b"not a png")
        z.writestr("../evil.png", b"outside")
        z.writestr("notes.txt", b"hello")
    page.get_by_label("my photos", exact=True).check()
    page.locator("#train-photos input[type=file]").set_input_files(str(archive))
    page.wait_for_selector("#train-photos a, #train-photos .file-name")
    _choose(page, "train-size", str(SIZE))
    _set_number(page, "train-steps", 4)
    _set_number(page, "train-every", 2)
    page.click("#train-start")
    run = f"vae-{SIZE}-002"
    text = _status(page, run, "finished", f"run: {run}")
    assert "Training on 12 photos" in text
    assert "broken.png" in text and "evil.png" in text and "notes.txt" in text
    assert (served.runs_dir / run / "photos" / "zip0" / "faces" / "face0.png").is_file()
    assert not list(served.runs_dir.parent.rglob("evil.png"))


# --- the uploads, without a browser -----------------------------------------------------------


@pytest.fixture(scope="module")
def uploads():
    _need_gradio()
    from genrestore.demo import uploads

    return uploads


def _png(path: Path) -> Path:
    Image.fromarray(np.full((20, 20, 3), 120, np.uint8)).save(path)
    return path


def test_unpack_keeps_images_and_leaves_out_unsafe_members(uploads, tmp_path):
    archive = tmp_path / "up.zip"
    link = zipfile.ZipInfo("faces/link.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(archive, "w") as z:
        z.write(_png(tmp_path / "a.png"), "faces/a.png")
        z.write(_png(tmp_path / "a.png"), "other/a.png")  # same name, another folder
        z.writestr("/etc/abs.png", b"x")
        z.writestr("../../up.png", b"x")
        z.writestr("C:/win.png", b"x")
        z.writestr(link, "/etc/passwd")
        z.writestr("__MACOSX/faces/._a.png", b"x")
        z.writestr("readme.md", b"x")
    single = _png(tmp_path / "single.png")
    dest = tmp_path / "dest"
    left_out = uploads.unpack_uploads([str(archive), str(single)], dest)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["single.png", "zip0/faces/a.png", "zip0/other/a.png"]
    reasons = dict(left_out)
    for name in ("/etc/abs.png", "../../up.png", "C:/win.png", "faces/link.png"):
        assert reasons[f"up.zip: {name}"] == "unsafe path or a link"
    assert reasons["up.zip: readme.md"] == "not an image"
    assert not any("MACOSX" in n for n in reasons)


def test_unpack_refuses_uploads_over_the_caps(uploads, tmp_path, monkeypatch):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(5):
            z.writestr(f"f{i}.png", b"\0" * 100_000)  # compresses to almost nothing
    monkeypatch.setattr(uploads, "MAX_TRAIN_IMAGES", 4)
    with pytest.raises(UserError, match="more than 4 images"):
        uploads.unpack_uploads([str(archive)], tmp_path / "d1")
    monkeypatch.setattr(uploads, "MAX_TRAIN_IMAGES", 100)
    monkeypatch.setattr(uploads, "MAX_TRAIN_BYTES", 250_000)
    with pytest.raises(UserError, match="images come to more than"):
        uploads.unpack_uploads([str(archive)], tmp_path / "d2")
    (tmp_path / "bad.zip").write_bytes(b"PK not really")
    with pytest.raises(UserError, match="bad.zip is not a readable zip"):
        uploads.unpack_uploads([str(tmp_path / "bad.zip")], tmp_path / "d3")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(UserError, match="no jpg/png/webp/bmp images"):
        uploads.unpack_uploads([str(tmp_path / "x.txt")], tmp_path / "d4")


def test_runs_dir_that_is_a_file_is_refused(tmp_path, capsys):
    from genrestore import cli

    _need_gradio()
    (tmp_path / "file").write_text("")
    assert cli.main(["demo", "--runs-dir", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


# --- the trainer and its runs folder, without a browser ---------------------------------------


def _wait_idle(trainer, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while trainer.status().busy:
        assert time.monotonic() < deadline, trainer.status()
        time.sleep(0.05)
    return trainer.status()


def test_a_failing_run_says_why_in_one_line(tmp_path):
    _need_gradio()
    from genrestore.demo.runs import RunsFolder
    from genrestore.demo.train import run_config
    from genrestore.demo.trainer import Trainer

    (tmp_path / "broken.png").write_bytes(b"not a png")
    trainer = Trainer(RunsFolder(tmp_path / "runs"), {})
    cfg = run_config("vae-32", 16, steps=4, every=2, count=0, photos=True)
    assert trainer.start(cfg, uploads=[str(tmp_path / "broken.png")]) == "vae-16-001"
    s = _wait_idle(trainer)
    assert s.state == "failed" and s.message.startswith("The run failed: ")
    assert "\n" not in s.message and "Traceback" not in s.message
    with pytest.raises(UserError, match="Upload photos"):
        trainer.start(cfg, uploads=[])
    with pytest.raises(UserError, match="Steps must be between"):
        run_config("vae-32", 16, steps=0, every=1, count=10, photos=False)
    with pytest.raises(UserError, match="Unknown preset"):
        run_config("encoder-64", 16, steps=4, every=1, count=10, photos=False)


def test_runs_folder_keeps_the_newest_runs_and_their_models(tmp_path):
    _need_gradio()
    from genrestore.demo.runs import RunsFolder, remember_caches

    folder = RunsFolder(tmp_path / "runs", max_runs=3)
    (tmp_path / "runs" / "mine").mkdir(parents=True)  # not made by the demo: left alone
    made = [folder.new("gan", 32) for _ in range(3)]
    assert [p.name for p in made] == ["gan-32-001", "gan-32-002", "gan-32-003"]
    cache = tmp_path / "folder-abc.npy"
    cache.write_bytes(b"")
    remember_caches(made[0], [cache])
    newest = folder.new("vae", 16)
    assert newest.name == "vae-16-004"
    assert folder.prune(keep=newest) == ["gan-32-001"]
    assert not made[0].exists() and not cache.exists()
    assert [p.name for p in folder.runs()] == ["gan-32-002", "gan-32-003", "vae-16-004"]
    assert (tmp_path / "runs" / "mine").is_dir()
