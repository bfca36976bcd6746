"""The Gradio demo: generate, inpaint, colorize and complete faces in a browser.

Thin over the Python API: every tab hands PIL images and bool masks to the task objects
that ``genrestore.load`` returns, so there is no second copy of preprocessing here. Models
are loaded once at start-up; a model that is missing leaves its tab with a message instead
of stopping the app. Run it with ``genrestore demo`` (or ``python demos/app.py``).
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from genrestore.data.masks import KEEP_REGIONS, keep_mask, mask_batch
from genrestore.errors import UserError
from genrestore.images import image_grid, open_image_with_alpha, source_name

log = logging.getLogger("genrestore")

DEFAULT_MODELS = ("faces-gan-64", "faces-vae-64", "faces-inpaint-64", "faces-colorize-64")
MAX_UPLOAD_PIXELS = 16_000_000  # uploads above this are refused with a message
MAX_UPLOAD_BYTES = "25mb"  # Gradio refuses larger files before they reach the app
EXAMPLE_COUNT = 6  # held-out built-in faces offered as examples on every tab
EXAMPLE_SIZE = 256  # px; any size works (models run at their own), 256 is easy to paint on
DAMAGE_KINDS = ("box", "stroke", "large")  # random-damage masks from data/masks.py
PAINTED = "painted"  # the Complete tab's "what stays visible" choice for a brushed region
QUEUE_CONCURRENCY = 2  # requests computed at once; the rest wait in the queue
QUEUE_SIZE = 64  # waiting requests beyond this are refused ("queue is full")
PAINT_RGBA = (255, 0, 255, 255)  # the colour random damage is drawn with in the editor


# --- models -----------------------------------------------------------------------------------


def load_models(names=DEFAULT_MODELS) -> tuple[dict, dict[str, str]]:
    """Load each shipped model once -> ({name: task object}, {name: why it is missing})."""
    from genrestore.tasks import load

    loaded, problems = {}, {}
    for name in names:
        try:
            loaded[name] = load(name)
        except Exception as exc:  # noqa: BLE001 (a broken model must not stop the other tabs)
            problems[name] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("demo: %s is not available: %s", name, problems[name])
    return loaded, problems


def _by_family(models: dict, families: tuple[str, ...]) -> dict:
    return {n: m for n, m in models.items() if getattr(m, "family", None) in families}


def _missing_text(what: str, names: list[str], problems: dict[str, str]) -> str:
    """The message a tab shows when it has no model."""
    reasons = "; ".join(f"{n}: {problems[n]}" for n in names if n in problems)
    return (
        f"**No {what} model is loaded, so this tab cannot run.** "
        + (f"({reasons}) " if reasons else "")
        + "Put the checkpoint in `checkpoints/` (or the folder named by "
        "`GENRESTORE_CHECKPOINTS`) and restart the demo."
    )


# --- input handling ---------------------------------------------------------------------------


def _shown_in_ui(fn):
    """Turn every failure of a handler into a readable message in the UI, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:
            log.exception("demo: %s failed", fn.__name__)
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise gr.Error(
                f"Something went wrong ({type(exc).__name__}{': ' + first if first else ''}). "
                "Try another image or setting.",
                print_exception=False,
            ) from None

    return wrapper


def _open_upload(src) -> tuple[Image.Image, np.ndarray | None]:
    """Validate an upload (path or array) -> (RGB image, transparent pixels or None)."""
    if src is None:
        raise UserError("Upload an image or pick an example first.")
    try:
        return open_image_with_alpha(src, max_pixels=MAX_UPLOAD_PIXELS)
    except UserError as exc:
        # The source is a temporary file name or "<numpy image>": say "the image" instead.
        text = str(exc).removeprefix(f"{source_name(src)}: ")
        raise UserError(f"This upload cannot be used: {text}.") from None


def _editor_image(value) -> tuple[Image.Image, np.ndarray, np.ndarray | None]:
    """An ImageEditor value -> (RGB background, painted bool (H, W), transparent or None).

    The painted region is the union of the layers' alpha: any brushed pixel counts.
    """
    if not value or value.get("background") is None:
        raise UserError("Upload an image or pick an example first.")
    rgb, transparent = _open_upload(value["background"])
    w, h = rgb.size
    painted = np.zeros((h, w), dtype=bool)
    for layer in value.get("layers") or []:
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[2] != 4:
            continue
        alpha = arr[..., 3]
        if alpha.shape != (h, w):  # layers cover the canvas, which is scaled to the image
            alpha = np.asarray(Image.fromarray(alpha).resize((w, h), Image.NEAREST))
        painted |= alpha > 0
    return rgb, painted, transparent


def _editor_value(rgb: Image.Image, missing: np.ndarray, as_file) -> dict:
    """An ImageEditor value (as files) showing ``missing`` as a painted layer over ``rgb``."""
    layer = np.zeros((*missing.shape, 4), dtype=np.uint8)
    layer[missing] = PAINT_RGBA
    base = np.asarray(rgb.convert("RGBA"))
    composite = np.where(missing[..., None], layer, base)
    return {
        "background": as_file(base),
        "layers": [as_file(layer)],
        "composite": as_file(composite),
    }


def _with_holes(rgb: Image.Image, missing: np.ndarray) -> Image.Image:
    """For display only: the image with its missing pixels blanked out (light gray)."""
    arr = np.asarray(rgb).copy()
    arr[missing] = 200
    return Image.fromarray(arr)


class _Outbox:
    """Result images as PNG files under unique names, which the handlers return to Gradio.

    Gradio writes a returned PIL image to a path named by its content's hash, in place: two
    requests with the same result (two users on seed 0) race on that file and one browser
    gets a truncated image (gradio-app/gradio#8878). A returned file is instead copied into
    Gradio's cache under a temporary name and renamed, which is safe. Files older than
    ``keep_s`` are swept; the folder goes when the process exits.
    """

    def __init__(self, keep_s: float = 600.0):
        self.dir = Path(tempfile.mkdtemp(prefix="genrestore-demo-out-"))
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        atexit.register(shutil.rmtree, self.dir, ignore_errors=True)

    def __call__(self, image: Image.Image | np.ndarray) -> str:
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        path = self.dir / f"{uuid.uuid4().hex}.png"
        image.save(path)
        self._sweep()
        return str(path)

    def _sweep(self) -> None:
        with self._lock:
            if time.monotonic() - self._swept < 60:
                return
            self._swept = time.monotonic()
        cutoff = time.time() - self.keep_s
        for p in self.dir.glob("*.png"):
            try:
                if p.stat().st_mtime < cutoff:
                    os.unlink(p)
            except OSError:  # swept by another request meanwhile
                pass


def _example_paths(count: int = EXAMPLE_COUNT, size: int = EXAMPLE_SIZE) -> list[str]:
    """Held-out built-in faces written as PNGs to a temporary folder (Gradio serves these)."""
    from genrestore.data.avatars import load_eval_faces

    try:
        faces = load_eval_faces(count, size, progress=False)
    except Exception as exc:  # noqa: BLE001 (examples are optional; the demo runs without)
        log.warning("demo: no example faces (%s)", exc)
        return []
    folder = Path(tempfile.mkdtemp(prefix="genrestore-demo-examples-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    paths = []
    for i, face in enumerate(faces):
        path = folder / f"held-out-face-{i}.png"
        Image.fromarray(np.asarray(face)).save(path)
        paths.append(str(path))
    return paths


def _pick(models: dict, name: str | None, what: str):
    if not models:
        raise UserError(f"No {what} model is loaded; see the message at the top of this tab.")
    if name not in models:
        name = next(iter(models))
    return models[name]


# --- the app ----------------------------------------------------------------------------------


def build_app(models: dict | None = None, problems: dict[str, str] | None = None) -> gr.Blocks:
    """The demo's Blocks. ``models``: {name: task object}; None loads ``DEFAULT_MODELS``.

    ``problems`` ({name: reason}) is shown on the tabs whose model is missing.
    """
    t0 = time.perf_counter()
    if models is None:
        models, problems = load_models()
    problems = problems or {}
    generators = _by_family(models, ("gan", "vae"))
    inpainters = _by_family(models, ("inpaint",))
    colorizers = _by_family(models, ("colorize",))
    gen_names = list(generators) or ["(none)"]
    examples = _example_paths()
    load_s = time.perf_counter() - t0
    as_file = _Outbox()

    def note(what: str, have: dict, names: list[str]) -> None:
        if not have:
            gr.Markdown(_missing_text(what, names, problems), elem_classes=["model-missing"])

    # Uploaded and generated files go to Gradio's temp folder: on a server that runs for
    # weeks they must not pile up. Every hour, delete those older than an hour.
    with gr.Blocks(title="genrestore", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# genrestore\nGenerate, inpaint, colorize and complete faces with small models "
            "that run offline on a CPU. Examples are held-out faces of the built-in set."
        )
        with gr.Tabs():
            # --- Generate ------------------------------------------------------------------
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                note("generative (gan or vae)", generators, ["faces-gan-64", "faces-vae-64"])
                with gr.Row():
                    gen_model = gr.Dropdown(
                        gen_names, value=gen_names[0], label="Model", visible=len(gen_names) > 1
                    )
                    gen_n = gr.Slider(1, 64, value=16, step=1, label="Number of faces")
                    gen_seed = gr.Number(
                        0, label="Seed", precision=0, minimum=0, elem_id="gen-seed"
                    )
                    gen_dice = gr.Button(
                        "🎲 Random seed", elem_id="gen-dice", scale=0, min_width=140
                    )
                    gen_trunc = gr.Slider(
                        0.1, 1.0, value=1.0, step=0.05, label="Truncation (lower: less variety)"
                    )
                gen_run = gr.Button("Generate", variant="primary", elem_id="gen-run")
                gen_gallery = gr.Gallery(
                    label="Faces", columns=8, format="png", elem_id="gen-gallery", height=320
                )
                gr.Examples(
                    [[8, 0, 1.0], [16, 7, 0.7], [32, 2024, 0.5]],
                    [gen_n, gen_seed, gen_trunc],
                    label="Examples",
                )
                gr.Markdown("### Interpolation between two seeds")
                with gr.Row():
                    seed_a = gr.Number(0, label="From seed", precision=0, minimum=0)
                    seed_b = gr.Number(1, label="To seed", precision=0, minimum=0)
                    steps = gr.Slider(2, 16, value=8, step=1, label="Steps")
                interp_run = gr.Button("Interpolate", elem_id="interp-run")
                strip = gr.Image(
                    label="Interpolation", format="png", interactive=False, elem_id="interp-strip"
                )

                # A gr.Progress() default is how Gradio hands a handler its progress bar.
                @_shown_in_ui
                def generate(name, n, seed, truncation, progress=gr.Progress()):  # noqa: B008
                    gen = _pick(generators, name, "generative")
                    progress(0, desc="sampling faces")
                    faces = gen.generate(int(n), seed=int(seed or 0), truncation=float(truncation))
                    return [as_file(f) for f in faces]

                @_shown_in_ui
                def interpolate(name, a, b, k, progress=gr.Progress()):  # noqa: B008
                    gen = _pick(generators, name, "generative")
                    progress(0, desc="interpolating")
                    faces = gen.interpolate(int(a or 0), int(b or 0), int(k))
                    return as_file(image_grid(faces, cols=len(faces)))

                gen_inputs = [gen_model, gen_n, gen_seed, gen_trunc]
                gen_run.click(generate, gen_inputs, gen_gallery, api_name="generate")
                gen_dice.click(
                    lambda: random.randrange(2**31), None, gen_seed, api_visibility="private"
                ).then(generate, gen_inputs, gen_gallery, api_visibility="private")
                interp_run.click(
                    interpolate, [gen_model, seed_a, seed_b, steps], strip, api_name="interpolate"
                )

            # --- Inpaint -------------------------------------------------------------------
            with gr.Tab("Inpaint", id="inpaint", elem_id="tab-inpaint"):
                note("inpainting", inpainters, ["faces-inpaint-64"])
                gr.Markdown(
                    "Upload a face or pick an example, then paint over the damaged region with "
                    "the brush (or press **Random damage**) and press **Inpaint**."
                )
                with gr.Row():
                    inp_editor = gr.ImageEditor(
                        label="Image (paint the region to fill)",
                        type="numpy",
                        image_mode="RGBA",
                        format="png",
                        sources=["upload", "clipboard"],
                        brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"),
                        elem_id="inpaint-editor",
                    )
                    with gr.Column():
                        damage_kind = gr.Radio(
                            list(DAMAGE_KINDS), value="stroke", label="Random damage shape"
                        )
                        damage_seed = gr.Number(0, label="Damage seed", precision=0, minimum=0)
                        inp_damage = gr.Button("Random damage", elem_id="inpaint-damage")
                        inp_run = gr.Button("Inpaint", variant="primary", elem_id="inpaint-run")
                with gr.Row():
                    inp_damaged = gr.Image(
                        label="Damaged input",
                        format="png",
                        interactive=False,
                        elem_id="inpaint-damaged",
                    )
                    inp_result = gr.Image(
                        label="Inpainted",
                        format="png",
                        interactive=False,
                        elem_id="inpaint-result",
                    )
                if examples:
                    gr.Examples(
                        [[p] for p in examples],
                        [inp_editor],
                        label="Held-out faces",
                        elem_id="inpaint-examples",
                    )

                @_shown_in_ui
                def inpaint(value, progress=gr.Progress()):  # noqa: B008
                    task = _pick(inpainters, None, "inpainting")
                    rgb, painted, transparent = _editor_image(value)
                    missing = painted if transparent is None else painted | transparent
                    if not missing.any():
                        raise UserError(
                            "Paint over the region to fill (or press Random damage) first."
                        )
                    progress(0, desc="inpainting")
                    return as_file(_with_holes(rgb, missing)), as_file(task(rgb, missing))

                @_shown_in_ui
                def damage(value, kind, seed):
                    rgb, _, _ = _editor_image(value)
                    w, h = rgb.size
                    missing = mask_batch(1, h, w, int(seed or 0), kind=kind)[0]
                    return _editor_value(rgb, missing, as_file)

                inp_run.click(inpaint, inp_editor, [inp_damaged, inp_result], api_name="inpaint")
                inp_damage.click(
                    lambda: random.randrange(2**31), None, damage_seed, api_visibility="private"
                ).then(
                    damage,
                    [inp_editor, damage_kind, damage_seed],
                    inp_editor,
                    api_name="damage",
                ).success(inpaint, inp_editor, [inp_damaged, inp_result], api_visibility="private")

            # --- Colorize ------------------------------------------------------------------
            with gr.Tab("Colorize", id="colorize", elem_id="tab-colorize"):
                note("colorization", colorizers, ["faces-colorize-64"])
                gr.Markdown(
                    "Upload a gray or color photo (a color one is made gray first). The result "
                    "keeps the photo's size and its brightness; only the colors are predicted."
                )
                with gr.Row():
                    col_input = gr.Image(
                        label="Photo",
                        type="filepath",
                        image_mode=None,
                        sources=["upload", "clipboard"],
                        elem_id="color-input",
                    )
                    col_slider = gr.ImageSlider(
                        label="Before / after",
                        format="png",
                        type="pil",
                        interactive=False,
                        elem_id="color-slider",
                        max_height=400,
                    )
                col_run = gr.Button("Colorize", variant="primary", elem_id="color-run")
                if examples:
                    gr.Examples(
                        [[p] for p in examples],
                        [col_input],
                        label="Held-out faces",
                        elem_id="color-examples",
                    )

                @_shown_in_ui
                def colorize(path, progress=gr.Progress()):  # noqa: B008
                    task = _pick(colorizers, None, "colorization")
                    rgb, _ = _open_upload(path)
                    gray = task.prepare(rgb)
                    progress(0, desc="colorizing")
                    return as_file(Image.fromarray(gray)), as_file(task.batch_prepared([gray])[0])

                col_run.click(colorize, col_input, col_slider, api_name="colorize")

            # --- Complete ------------------------------------------------------------------
            with gr.Tab("Complete", id="complete", elem_id="tab-complete"):
                note("generative (gan or vae)", generators, ["faces-gan-64", "faces-vae-64"])
                gr.Markdown(
                    "Keep only a small part of a face visible and draw the rest: the model "
                    "searches its latent space for faces that match what is visible. Regions "
                    "assume a face centred in a square, like the examples; with **painted**, "
                    "brush over the part that stays visible."
                )
                with gr.Row():
                    cmp_editor = gr.ImageEditor(
                        label="Face",
                        type="numpy",
                        image_mode="RGBA",
                        format="png",
                        sources=["upload", "clipboard"],
                        brush=gr.Brush(colors=["#00c000"], color_mode="fixed"),
                        elem_id="complete-editor",
                    )
                    with gr.Column():
                        cmp_model = gr.Dropdown(
                            gen_names,
                            value=gen_names[0],
                            label="Model",
                            visible=len(gen_names) > 1,
                        )
                        cmp_region = gr.Radio(
                            [*KEEP_REGIONS, PAINTED], value="left-eye", label="What stays visible"
                        )
                        cmp_samples = gr.Slider(1, 8, value=4, step=1, label="Samples")
                        cmp_seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                        cmp_run = gr.Button("Complete", variant="primary", elem_id="complete-run")
                with gr.Row():
                    cmp_visible = gr.Image(
                        label="Visible part",
                        format="png",
                        interactive=False,
                        elem_id="complete-visible",
                        scale=1,
                    )
                    cmp_gallery = gr.Gallery(
                        label="Completions (best fit first)",
                        columns=4,
                        format="png",
                        elem_id="complete-gallery",
                        height=320,
                        scale=3,
                    )
                if examples:
                    gr.Examples(
                        [[p] for p in examples],
                        [cmp_editor],
                        label="Held-out faces",
                        elem_id="complete-examples",
                    )

                @_shown_in_ui
                def complete(value, name, region, n, seed, progress=gr.Progress()):  # noqa: B008
                    gen = _pick(generators, name, "generative")
                    rgb, painted, _ = _editor_image(value)
                    if region == PAINTED:
                        if not painted.any():
                            raise UserError(
                                "Brush over the part that stays visible, or choose a region."
                            )
                        missing = ~painted
                    else:
                        missing = keep_mask(region, *rgb.size)
                    progress(0, desc="searching for faces that match")
                    faces = gen.complete(rgb, missing, samples=int(n), seed=int(seed or 0))
                    return as_file(_with_holes(rgb, missing)), [as_file(f) for f in faces]

                cmp_run.click(
                    complete,
                    [cmp_editor, cmp_model, cmp_region, cmp_samples, cmp_seed],
                    [cmp_visible, cmp_gallery],
                    api_name="complete",
                )

        loaded = ", ".join(models) or "none"
        gr.Markdown(
            f"Models: {loaded}. Loaded in {load_s:.1f} s. Uploads up to "
            f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels.",
            elem_id="footer-note",
        )
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def main(host: str = "127.0.0.1", port: int = 7860, *, started: float | None = None) -> None:
    """Serve the demo on host:port until interrupted; prints the URL and the start-up time."""
    t0 = time.perf_counter() if started is None else started
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests
    demo = build_app()
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,
            max_file_size=MAX_UPLOAD_BYTES,
            ssr_mode=False,
            footer_links=["api"],
        )
    except OSError as exc:
        log.debug("demo: launch failed: %s", exc)
        raise UserError(
            f"cannot serve on {host}:{port} (the port is in use or not allowed); try another --port"
        ) from None
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{demo.server_port}/"
    print(
        f"genrestore demo: serving on {url} (started in {time.perf_counter() - t0:.1f} s); "
        "press Ctrl+C to stop",
        flush=True,
    )
    try:
        demo.block_thread()
    finally:
        demo.close(verbose=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    try:
        main(args.host, args.port)
    except UserError as exc:
        raise SystemExit(f"demo: error: {exc}") from None
