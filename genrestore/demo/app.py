"""The demo's Blocks, composed from one module per tab, and the server that runs it."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import gradio as gr

from genrestore import UserError
from genrestore.families import families
from genrestore.tasks import Colorizer, Generator, Inpainter

from .colorize import build_colorize_tab
from .complete import build_complete_tab
from .generate import build_generate_tab
from .inpaint import build_inpaint_tab
from .runs import RunsFolder, default_runs_dir
from .train import build_train_tab
from .trainer import Trainer
from .widgets import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_PIXELS,
    QUEUE_CONCURRENCY,
    QUEUE_SIZE,
    Outbox,
    by_task,
    example_paths,
    example_photo_paths,
)

log = logging.getLogger("genrestore")

# Every family's shipped model, in the registry's order, and the face VAE that routes the
# "auto" choices; the photo models (or their fallback) are added by load_models.
DEFAULT_MODELS = tuple(f.shipped for f in families().values() if f.shipped)


def load_models(names=DEFAULT_MODELS) -> tuple[dict, dict[str, str]]:
    """Load each model once -> ({name: task object}, {name: why it is missing})."""
    from genrestore import load
    from genrestore.tasks.auto import photo_model

    if names is DEFAULT_MODELS:  # and the photo model of each family that has one
        photo = (photo_model(f.name) for f in families().values() if f.shipped_photo)
        names = DEFAULT_MODELS + tuple(n for n in photo if n)
    loaded, problems = {}, {}
    for name in names:
        try:
            loaded[name] = load(name)
        except Exception as exc:  # noqa: BLE001 (a broken model must not stop the other tabs)
            problems[name] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("demo: %s is not available: %s", name, problems[name])
    return with_auto(loaded), problems


def with_auto(loaded: dict) -> dict:
    """``loaded`` with, first, an "auto (face or photo)" entry per family that has both."""
    from genrestore.tasks.auto import DETECTOR, FaceDetector, photo_model, routed

    out = {}
    if DETECTOR in loaded:
        detector = FaceDetector(loaded[DETECTOR])
        for fam in families().values():
            photo = photo_model(fam.name) if fam.shipped_photo else None
            if fam.shipped in loaded and photo in loaded:
                task = routed(loaded[fam.shipped], loaded[photo], detector)
                out[task.name] = task
    return {**out, **loaded}


def build_app(
    models: dict | None = None,
    problems: dict[str, str] | None = None,
    runs_dir: str | os.PathLike | None = None,
) -> gr.Blocks:
    """The demo's Blocks. ``models``: {name: task object}; None loads ``DEFAULT_MODELS``.

    ``problems`` ({name: reason}) is shown on the tabs whose model is missing. The Train
    tab keeps its runs in ``runs_dir`` (default: the cache folder's demo-runs) and adds
    each finished or stopped run to ``models``, the one dict every tab reads.
    """
    t0 = time.perf_counter()
    if models is None:
        models, problems = load_models()
    problems = problems or {}
    trainer = Trainer(RunsFolder(Path(runs_dir) if runs_dir else default_runs_dir()), models)
    trainer.add_saved_runs()
    generators = by_task(models, Generator)
    inpainters = by_task(models, Inpainter)
    colorizers = by_task(models, Colorizer)
    examples, photos = example_paths(), example_photo_paths()
    load_s = time.perf_counter() - t0
    as_file = Outbox()

    # Uploaded and generated files go to Gradio's temp folder: on a server that runs for
    # weeks they must not pile up. Every hour, delete those older than an hour.
    with gr.Blocks(title="genrestore", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# genrestore\nGenerate, inpaint, colorize and complete faces, and restore "
            "photos, with small models that run offline on a CPU. Examples are held-out "
            "faces of the built-in set and scikit-image's sample photos. The **auto** model "
            "sends each image to the face model or the photo model (the face VAE decides)."
        )
        with gr.Tabs():
            pickers = [  # the model choices that the Train tab updates
                build_generate_tab(generators, problems, as_file),
                build_inpaint_tab(inpainters, problems, examples, as_file, photos),
                build_colorize_tab(colorizers, problems, examples, as_file, photos),
                build_complete_tab(generators, problems, examples, as_file),
            ]
            build_train_tab(trainer, pickers, as_file)
        gr.Markdown(
            f"Models: {', '.join(models) or 'none'}. Loaded in {load_s:.1f} s. Uploads up to "
            f"{MAX_UPLOAD_PIXELS / 1e6:.0f} megapixels.",
            elem_id="footer-note",
        )
    demo.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def main(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    started: float | None = None,
    runs_dir: str | os.PathLike | None = None,
) -> None:
    """Serve the demo on host:port until interrupted; prints the URL and the start-up time.

    ``runs_dir``: where the Train tab keeps its runs (default: the cache's demo-runs).
    """
    t0 = time.perf_counter() if started is None else started
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests
    demo = build_app(runs_dir=runs_dir)
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
