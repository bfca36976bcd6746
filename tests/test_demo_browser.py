"""The Gradio demo, served by ``genrestore demo`` and driven in headless Chromium.

A subprocess serves the demo on a free local port over tiny untrained checkpoints; each
tab runs its task through the UI (clicks, an example pick, a brush stroke, an upload) and
a result image of the right size must appear. Per-tab latencies are printed, not asserted.

Screenshots go to a temporary folder, or to $GENRESTORE_SCREENSHOTS when it is set. To
take the README's screenshots with the shipped models instead of the tiny ones:

    GENRESTORE_DEMO_MODELS=checkpoints GENRESTORE_SCREENSHOTS=docs/screenshots \\
        python -m pytest tests/test_demo_browser.py

Needs Debian's ``chromium`` (/usr/bin/chromium) and ``pip install playwright`` (never
``playwright install``). Without them the browser tests are skipped, except in CI (env CI
or GENRESTORE_REQUIRE_BROWSER=1), where they fail instead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genrestore import UserError, cli
from genrestore.checkpoint import save_checkpoint
from genrestore.config import ColorizeConfig, GANConfig, InpaintConfig

CHROMIUM = os.environ.get("GENRESTORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",  # the demo is local; a proxy from the environment must not intercept
]
REQUIRED = bool(os.environ.get("CI")) or os.environ.get("GENRESTORE_REQUIRE_BROWSER") == "1"
EXAMPLE_SIZE = 256  # genrestore/demo/widgets.py writes its held-out example faces at this size
MODEL_SIZE = 64  # the tiny checkpoints' (and the shipped models') image size
WAIT_MS = 60_000  # generous: CI machines and this one may be busy


def _unavailable(reason: str):
    """Skip with ``reason``, or fail where a browser is required (CI)."""
    if REQUIRED:
        pytest.fail(f"{reason} (required here: CI or GENRESTORE_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def _need_gradio() -> None:
    if importlib.util.find_spec("gradio") is None:
        _unavailable("gradio is not installed: pip install 'genrestore[demo]'")


# --- tiny models and the served demo ----------------------------------------------------------


def build_tiny_checkpoints(folder: Path) -> Path:
    """Untrained 64 px gan, inpaint and colorize checkpoints named like the shipped ones."""
    from genrestore.models import build_inference_model

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    specs = [
        ("faces-gan-64", "gan", GANConfig(size=MODEL_SIZE, nz=100, ngf=8, ndf=8)),
        ("faces-inpaint-64", "inpaint", InpaintConfig(size=MODEL_SIZE, nf=8)),
        ("faces-colorize-64", "colorize", ColorizeConfig(size=MODEL_SIZE, nf=8)),
    ]
    for name, family, cfg in specs:
        net = build_inference_model(family, cfg).eval()
        save_checkpoint(
            folder / f"{name}.safetensors",
            {f"model.{k}": v for k, v in net.state_dict().items()},
            family=family,
            config=dataclasses.asdict(cfg),
        )
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Served:
    url: str
    cold_start_s: float
    log: Path
    pid: int = 0

    def peak_rss_mb(self) -> float | None:
        """The server's peak resident memory so far (Linux /proc), or None elsewhere."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


@contextlib.contextmanager
def serve_demo(tmp: Path, *args: str) -> Iterator[Served]:
    """``genrestore demo ARGS`` in a subprocess on a free port, once a page is served."""
    models = os.environ.get("GENRESTORE_DEMO_MODELS") or build_tiny_checkpoints(tmp / "ckpt")
    port = _free_port()
    env = {
        **os.environ,
        "GENRESTORE_CHECKPOINTS": str(Path(models).resolve()),
        "GENRESTORE_CACHE": str(tmp / "cache"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp / "demo.log"
    url = f"http://127.0.0.1:{port}/"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "genrestore.cli", "demo", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"genrestore demo exited with {proc.returncode}:\n{log.read_text()}"
                    )
                try:
                    with no_proxy.open(url, timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if time.perf_counter() - t0 > 120:
                    pytest.fail(f"genrestore demo served nothing in 120 s:\n{log.read_text()}")
                time.sleep(0.1)
            cold = time.perf_counter() - t0
            yield Served(url, cold, log, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``genrestore demo`` in a subprocess on a free port; yields its URL once a page is served."""
    _need_gradio()
    with serve_demo(tmp_path_factory.mktemp("demo")) as s:
        yield s


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("GENRESTORE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install playwright")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextlib.contextmanager
def open_demo(browser, url: str, wait_ms: int = WAIT_MS) -> Iterator:
    """A fresh browser page on the demo at ``url``, once its first tab has rendered."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(wait_ms)
    pg.goto(url)
    pg.wait_for_selector("#gen-run")
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def page(browser, served):
    with open_demo(browser, served.url) as pg:
        yield pg


def _report(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[demo] {text}", flush=True)


# --- helpers that read results off the page ---------------------------------------------------


def _loaded_images(pg, selector: str, count: int, after: set[str] = frozenset()) -> list[tuple]:
    """Wait until ``count`` images under ``selector`` have loaded (and none is in ``after``).

    Returns [(naturalWidth, naturalHeight), ...] of the first ``count``.
    """
    pg.wait_for_function(
        """([sel, n, old]) => {
            const imgs = [...document.querySelectorAll(sel)];
            return imgs.length >= n && imgs.slice(0, n).every(
                i => i.complete && i.naturalWidth > 0 && !old.includes(i.src));
        }""",
        arg=[selector, count, sorted(after)],
        timeout=WAIT_MS,
    )
    return [
        tuple(s)
        for s in pg.eval_on_selector_all(
            selector, "els => els.map(e => [e.naturalWidth, e.naturalHeight])"
        )[:count]
    ]


def _srcs(pg, selector: str) -> set[str]:
    return set(pg.eval_on_selector_all(selector, "els => els.map(e => e.src)"))


def _toasts(pg) -> list[str]:
    pg.wait_for_selector(".toast-body", timeout=WAIT_MS)
    return pg.locator(".toast-body").all_inner_texts()


def _screenshot(pg, path: Path) -> None:
    pg.wait_for_timeout(800)  # let the editors finish redrawing their layers
    pg.screenshot(path=str(path), full_page=True)


def _pick_example(pg, examples_id: str, index: int, editor_id: str | None = None) -> None:
    """Click example ``index``; with ``editor_id``, wait until the editor has drawn it."""
    pg.locator(f"#{examples_id} button.gallery-item").nth(index).click()
    if editor_id:
        # While loading, the editor shows its upload placeholder and then a timer ("0.3s").
        pg.wait_for_function(
            """id => {
                const e = document.getElementById(id);  // null while its tab mounts
                const t = e === null ? "Upload an image" : e.innerText;
                return !t.includes("Upload an image") && !/\\d+\\.\\ds/.test(t);
            }""",
            arg=editor_id,
            timeout=WAIT_MS,
        )
        pg.wait_for_timeout(200)


def _brush_stroke(pg, editor_id: str) -> None:
    """Drag the brush across the middle of the editor's canvas."""
    box = pg.locator(f"#{editor_id} canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2
    pg.mouse.move(x, y)
    pg.mouse.down()
    for i in range(1, 21):
        pg.mouse.move(x + 6 * i, y + 2 * i)
    pg.mouse.up()


# --- the tabs ---------------------------------------------------------------------------------


def test_cold_start(served, capsys):
    deadline = time.perf_counter() + 30  # the page is served just before the line is printed
    while "started in" not in served.log.read_text() and time.perf_counter() < deadline:
        time.sleep(0.1)
    log = served.log.read_text()
    assert "serving on" in log and "started in" in log, log
    assert "Traceback" not in log, log
    _report(
        capsys, f"cold start of `genrestore demo` to a served page: {served.cold_start_s:.1f} s"
    )


def test_generate_tab(page, shots, capsys):
    t0 = time.perf_counter()
    page.click("#gen-run")
    sizes = _loaded_images(page, "#gen-gallery img", 16)
    dt = time.perf_counter() - t0
    assert sizes == [(MODEL_SIZE, MODEL_SIZE)] * 16

    before = _srcs(page, "#gen-gallery img")
    seed_before = page.input_value("#gen-seed input")
    page.click("#gen-dice")
    _loaded_images(page, "#gen-gallery img", 16, after=before)
    assert page.input_value("#gen-seed input") != seed_before
    # the size choice reaches the model: the tiny gan has no upscaler, so both are its own
    before = _srcs(page, "#gen-gallery img")
    page.locator("#gen-size label").nth(1).click()
    page.click("#gen-run")
    assert _loaded_images(page, "#gen-gallery img", 16, after=before)[0] == (MODEL_SIZE,) * 2

    t1 = time.perf_counter()
    page.click("#interp-run")
    (strip,) = _loaded_images(page, "#interp-strip img", 1)
    dt_interp = time.perf_counter() - t1
    steps, pad = 8, 2  # the app's default steps; image_grid's padding
    assert strip == (steps * (MODEL_SIZE + pad) + pad, MODEL_SIZE + 2 * pad)
    _screenshot(page, shots / "generate.png")
    _report(capsys, f"generate: 16 faces {dt:.2f} s, interpolation strip {dt_interp:.2f} s")


def test_inpaint_tab(page, shots, capsys):
    page.click("#tab-inpaint-button")
    _pick_example(page, "inpaint-examples", 1, "inpaint-editor")
    _brush_stroke(page, "inpaint-editor")
    t0 = time.perf_counter()
    page.click("#inpaint-run")
    sizes = _loaded_images(page, "#inpaint-damaged img, #inpaint-result img", 2)
    dt = time.perf_counter() - t0
    assert sizes == [(EXAMPLE_SIZE, EXAMPLE_SIZE)] * 2

    before = _srcs(page, "#inpaint-result img")
    t1 = time.perf_counter()
    page.click("#inpaint-damage")
    (size,) = _loaded_images(page, "#inpaint-result img", 1, after=before)
    dt_damage = time.perf_counter() - t1
    assert size == (EXAMPLE_SIZE, EXAMPLE_SIZE)
    _screenshot(page, shots / "inpaint.png")
    _report(capsys, f"inpaint: brushed {dt:.2f} s, random damage + inpaint {dt_damage:.2f} s")


def test_colorize_tab(page, shots, tmp_path, capsys):
    from genrestore.data.avatars import EVAL_START, render_face

    # A held-out face, cropped to 200x150 (not square) and made gray.
    face = Image.fromarray(render_face(EVAL_START + 10, 200)).crop((0, 25, 200, 175))
    path = tmp_path / "gray-face.png"
    face.convert("L").save(path)
    page.click("#tab-colorize-button")
    page.locator("#color-input input[type=file]").set_input_files(str(path))
    page.wait_for_selector("#color-input img")
    t0 = time.perf_counter()
    page.click("#color-run")
    sizes = _loaded_images(page, "#color-slider img", 2)
    dt = time.perf_counter() - t0
    assert sizes == [(200, 150)] * 2  # before and after, at the upload's own size
    _screenshot(page, shots / "colorize.png")
    _report(capsys, f"colorize: {dt:.2f} s")


def test_complete_tab(page, shots, capsys):
    page.click("#tab-complete-button")
    _pick_example(page, "complete-examples", 2, "complete-editor")
    page.get_by_label("eyes", exact=True).check()
    page.wait_for_timeout(300)
    t0 = time.perf_counter()
    page.click("#complete-run")
    sizes = _loaded_images(page, "#complete-gallery img", 4)
    dt = time.perf_counter() - t0
    assert sizes == [(EXAMPLE_SIZE, EXAMPLE_SIZE)] * 4
    assert _loaded_images(page, "#complete-visible img", 1) == [(EXAMPLE_SIZE, EXAMPLE_SIZE)]
    _screenshot(page, shots / "complete.png")

    # "painted" with nothing painted: a readable message, no traceback.
    page.get_by_label("painted", exact=True).check()
    page.click("#complete-run")
    text = " ".join(_toasts(page))
    assert "Brush over the part that stays visible" in text and "Traceback" not in text
    _report(capsys, f"complete (4 samples): {dt:.2f} s")


# --- the API under load, and refusals ---------------------------------------------------------


def _editor_payload(tmp_path: Path, w: int, h: int) -> dict:
    from gradio_client import handle_file

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / "in.png")
    layer = np.zeros((h, w, 4), np.uint8)
    layer[h // 4 : h // 2, w // 4 : 3 * w // 4] = (255, 0, 255, 255)
    Image.fromarray(layer).save(tmp_path / "layer.png")
    return {
        "background": handle_file(str(tmp_path / "in.png")),
        "layers": [handle_file(str(tmp_path / "layer.png"))],
        "composite": None,
    }


def test_twenty_concurrent_inpaint_requests(served, tmp_path, capsys):
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    # Twenty users, each with their own session, as twenty browsers would be. (Twenty
    # submissions through one Client share one event stream, and gradio_client can cancel a
    # job whose stream closes while the next is being registered: a client race, not ours.)
    payload = _editor_payload(tmp_path, 80, 96)

    def one_user(_):
        return Client(served.url, verbose=False).predict(payload, api_name="/inpaint")

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one_user, range(20)))
    dt = time.perf_counter() - t0
    assert len(results) == 20
    for damaged, inpainted in results:
        assert Image.open(damaged).size == (80, 96) and Image.open(inpainted).size == (80, 96)
    rss = served.peak_rss_mb()
    peak = f", server peak RSS {rss:.0f} MB" if rss is not None else ""
    _report(capsys, f"20 concurrent inpaint requests: {dt:.2f} s{peak}")


def test_oversized_upload_is_refused_politely(served, tmp_path):
    from gradio_client import Client, handle_file

    big = tmp_path / "big.png"
    Image.new("L", (5000, 4000), 128).save(big)  # 20 megapixels, a few kB
    client = Client(served.url, verbose=False)
    with pytest.raises(Exception, match="over the limit of 16,000,000 pixels") as exc:
        client.predict(handle_file(str(big)), api_name="/colorize")
    assert "Traceback" not in str(exc.value)


# --- without a browser: the app's edges, missing models, missing Gradio ----------------------


@pytest.fixture(scope="module")
def widgets():
    """genrestore.demo.widgets, what the tabs share (importing it imports Gradio)."""
    _need_gradio()
    from genrestore.demo import widgets

    return widgets


def test_missing_models_leave_a_message_on_their_tabs(widgets):
    from genrestore.demo import build_app

    demo = build_app(models={}, problems={"faces-inpaint-64": "unknown model"})
    texts = [getattr(b, "value", "") for b in demo.blocks.values()]
    notes = [t for t in texts if isinstance(t, str) and "cannot run" in t]
    assert len(notes) == 4  # generate, inpaint, colorize, complete
    assert any("No inpainting model" in t and "unknown model" in t for t in notes)


def test_handler_errors_become_readable_messages(widgets):
    import gradio as gr

    @widgets.shown_in_ui
    def user_mistake():
        raise UserError("seed must be 0 or more")

    @widgets.shown_in_ui
    def bug():
        raise RuntimeError("boom\nsecond line")

    with pytest.raises(gr.Error, match="seed must be 0 or more"):
        user_mistake()
    with pytest.raises(gr.Error) as exc:
        bug()
    assert "RuntimeError: boom" in exc.value.message and "second line" not in exc.value.message


def test_editor_value_gives_the_painted_mask_and_refuses_huge_uploads(widgets):
    background = np.full((40, 60, 4), 255, np.uint8)
    layer = np.zeros((40, 60, 4), np.uint8)
    layer[5:10, 20:30, 3] = 255
    rgb, painted, transparent = widgets.editor_image(
        {"background": background, "layers": [layer], "composite": None}
    )
    assert rgb.size == (60, 40) and transparent is None
    assert painted.sum() == 50 and painted[5:10, 20:30].all()
    with pytest.raises(UserError, match="Upload an image"):
        widgets.editor_image({"background": None, "layers": [], "composite": None})
    with pytest.raises(UserError, match="over the limit of 1,000 pixels") as exc:
        widgets.editor_image(
            {"background": background, "layers": [], "composite": None}, max_pixels=1000
        )
    assert "numpy" not in str(exc.value)


def test_demos_app_script_imports_the_package_and_parses_its_options():
    """demos/app.py is a thin launcher over genrestore.demo: its options still parse."""
    _need_gradio()
    script = Path(__file__).resolve().parent.parent / "demos" / "app.py"
    out = subprocess.run(
        [sys.executable, str(script), "--help"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--host" in out.stdout and "--port" in out.stdout


def test_demo_without_gradio_says_how_to_install(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a)
    )
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'genrestore[demo]'" in err
