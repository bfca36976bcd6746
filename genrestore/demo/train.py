"""The Train tab: train a network on faces in the background and watch its samples improve."""

from __future__ import annotations

import dataclasses
import html
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import gradio as gr
from PIL import Image

from genrestore import UserError
from genrestore.config import TrainConfig, with_size
from genrestore.families import all_presets, families
from genrestore.images import IMAGE_SUFFIXES

from .trainer import Status, Trainer
from .uploads import MAX_TRAIN_BYTES, MAX_TRAIN_IMAGES
from .widgets import MAX_UPLOAD_BYTES, ModelPicker, Outbox, bound, shown_in_ui

# Defaults that show faces within minutes on a 2-core CPU: vae-32 draws recognisable, if
# blurry, faces by step 200-300 (under 2 min after Start on a busy 2-core machine, rendering
# the faces included), while gan-32 still draws blobs at step 300, 3.5x later.
DEFAULT_PRESET = "vae-32"
DEFAULT_STEPS = 1_000
DEFAULT_PREVIEW_EVERY = 25  # steps between sample grids: the first within a minute
DEFAULT_COUNT = 500  # built-in faces: rendered once (10-70 s on 2 cores), then cached
MAX_STEPS = 100_000
MAX_COUNT = 20_000
SIZES = (16, 32, 64, 128)
LOG_EVERY = 5  # steps between status updates (loss means and img/s)
POLL_S = 1.5  # seconds between the browser's status polls
PREVIEW_PX = 400  # small grids (16 or 32 px faces) are shown enlarged to at least this width
EXPORTS_KEEP_S = 600  # downloads older than this are deleted from the exports folder
BUILT_IN, PHOTOS = "built-in faces", "my photos"


def trainable_presets() -> dict[str, list[str]]:
    """{family: its preset names} for the families that learn from images (not encoder)."""
    return {
        name: list(fam.presets) for name, fam in families().items() if fam.recipe_class().uses_data
    }


def run_config(
    preset: str, size: int | str, steps: int, every: int, count: int, photos: bool
) -> TrainConfig:
    """The config of a run the tab starts; a UserError for a value out of range."""
    cfg = all_presets().get(preset)
    if cfg is None or cfg.family not in trainable_presets():
        raise UserError(f"Unknown preset {preset!r}: pick one from the list.")
    if str(size) not in map(str, SIZES):
        raise UserError(f"Image size must be one of {', '.join(map(str, SIZES))} px, got {size}.")
    if not 1 <= steps <= MAX_STEPS:
        raise UserError(f"Steps must be between 1 and {MAX_STEPS:,}, got {steps}.")
    if not 1 <= every <= steps:
        raise UserError(f"Preview every must be between 1 and the steps ({steps}), got {every}.")
    if not photos and not 1 <= count <= MAX_COUNT:
        raise UserError(f"Built-in faces must be between 1 and {MAX_COUNT:,}, got {count}.")
    cfg = with_size(cfg, int(size))
    data = cfg.data if photos else dataclasses.replace(cfg.data, source="avatars", count=count)
    return dataclasses.replace(
        cfg, data=data, steps=steps, sample_every=every, log_every=min(LOG_EVERY, every)
    )


# --- handlers ---------------------------------------------------------------------------------


@shown_in_ui
def start_run(
    trainer: Trainer,
    data: str,
    count: float | None,
    photos: list[str] | None,
    preset: str,
    size: str | int,
    steps: float | None,
    every: float | None,
) -> str:
    """Start a run in the background -> the status text."""
    mine = data == PHOTOS
    cfg = run_config(preset, size, int(steps or 0), int(every or 0), int(count or 0), mine)
    if mine and not photos:
        raise UserError("Upload photos of faces (image files or a zip of them) first.")
    trainer.start(cfg, uploads=list(photos) if mine else None)
    return status_html(trainer.status())


@shown_in_ui
def stop_run(trainer: Trainer) -> str:
    trainer.stop()
    return status_html(trainer.status())


@shown_in_ui
def resume_run(trainer: Trainer, steps: float | None) -> str:
    trainer.resume(int(steps or 0))
    return status_html(trainer.status())


@shown_in_ui
def download_run(trainer: Trainer, exports: Path) -> dict:
    """The current run exported (fp16 weights + model card) -> the two files, shown."""
    cutoff = time.time() - EXPORTS_KEEP_S  # Gradio has long copied older ones to its cache
    for old in exports.iterdir():
        if old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    return gr.update(value=trainer.export(exports / uuid.uuid4().hex), visible=True)


def poll(trainer: Trainer, pickers: list[ModelPicker], as_file: Outbox, seen: dict, *chosen):
    """The timer's tick -> [status, samples, seen, then (dropdown, note) per picker].

    ``seen`` (per browser session) holds what was last sent: the status, the grid and the
    models version; what did not change is skipped rather than sent again.
    """
    s = trainer.status()
    text = status_html(s)
    status = text if text != seen.get("status") else gr.skip()
    samples = gr.skip()
    if s.samples and s.samples != seen.get("samples"):
        try:
            shown = as_file(enlarged(s.samples))
        except OSError:  # deleted meanwhile (its run was removed): keep the last one shown
            shown = None
        label = f"Samples of {s.name} at step {s.samples_step}"
        samples = gr.update(value=shown, label=label) if shown else gr.skip()
    updates = [gr.skip()] * (2 * len(pickers))
    if s.models_version != seen.get("version"):
        updates = [u for p, value in zip(pickers, chosen) for u in p.update(value)]
    now = {"status": text, "samples": s.samples, "version": s.models_version}
    return [status, samples, now, *updates]


# --- what the tab shows -----------------------------------------------------------------------


def enlarged(grid_path: str) -> Image.Image:
    """A sample grid enlarged by a whole factor to at least ``PREVIEW_PX`` wide (pixels kept)."""
    grid = Image.open(grid_path)
    k = max(1, -(-PREVIEW_PX // grid.width))
    return grid.resize((grid.width * k, grid.height * k), Image.NEAREST)


def status_html(s: Status) -> str:
    """The status line: a progress bar, step, img/s, time left and the latest losses."""
    if s.state == "idle":
        return "<p>No run yet. Pick the data and a model, then press <b>Start</b>.</p>"
    head = f"<b>{html.escape(s.name)}</b>: {s.state}"
    parts = [f"step {s.step:,} / {s.steps:,}"]
    if s.img_s:
        parts.append(f"{s.img_s:.0f} img/s")
    left = s.seconds_left()
    if left is not None:
        parts.append(f"about {_duration(left)} left")
    if s.losses:
        parts.append(", ".join(f"{k} {v:.3f}" for k, v in s.losses.items()))
    lines = [f"{head} · {' · '.join(parts)}"]
    if s.state in ("stopped", "finished"):
        lines.append(
            f"It is in the model lists of the other tabs as <b>run: {html.escape(s.name)}</b>."
        )
    lines += [html.escape(t) for t in (s.message, s.notes) if t]
    bar = f'<progress value="{s.step}" max="{max(s.steps, 1)}" style="width:100%"></progress>'
    return bar + "".join(f"<p>{line}</p>" for line in lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def build_train_tab(trainer: Trainer, pickers: list[ModelPicker], as_file: Outbox) -> None:
    """The Train tab, inside the current Blocks; ``pickers``: the other tabs' model choices."""
    presets = trainable_presets()
    family = DEFAULT_PRESET.split("-")[0]
    with gr.Tab("Train", id="train", elem_id="tab-train"):
        gr.Markdown(
            "Train a network on faces and watch it learn: the sample grid refreshes as it "
            "trains. **Stop** saves the run (**Resume** continues it); a stopped or finished "
            "run joins the model lists of the other tabs as *run: NAME*."
        )
        with gr.Row():
            with gr.Column(scale=2):
                data, count, photos = _data_controls()
                fam = gr.Dropdown(list(presets), value=family, label="Model family")
                preset = gr.Dropdown(presets[family], value=DEFAULT_PRESET, label="Preset")
                size = gr.Dropdown(
                    [str(s) for s in SIZES],
                    value=str(_preset_size(DEFAULT_PRESET)),
                    label="Image size (px)",
                    elem_id="train-size",
                )
                with gr.Row():
                    steps = gr.Number(
                        DEFAULT_STEPS, label="Steps", precision=0, minimum=1, elem_id="train-steps"
                    )
                    every = gr.Number(
                        DEFAULT_PREVIEW_EVERY,
                        label="Preview every (steps)",
                        precision=0,
                        minimum=1,
                        elem_id="train-every",
                    )
                with gr.Row():
                    start = gr.Button("Start", variant="primary", elem_id="train-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
                    resume = gr.Button("Resume", elem_id="train-resume")
            with gr.Column(scale=3):
                status = gr.HTML(status_html(trainer.status()), elem_id="train-status")
                samples = gr.Image(
                    label="Samples",
                    format="png",
                    interactive=False,
                    elem_id="train-samples",
                )
                download = gr.Button("Download the model", elem_id="train-download")
                files = gr.File(
                    label="Model files (.safetensors + card)",
                    file_count="multiple",
                    interactive=False,
                    elem_id="train-files",
                    visible=False,
                )

        fam.change(
            lambda f: gr.update(choices=presets[f], value=presets[f][0]),
            fam,
            preset,
            api_visibility="private",
        )
        preset.change(lambda p: str(_preset_size(p)), preset, size, api_visibility="private")
        inputs = [data, count, photos, preset, size, steps, every]
        start.click(bound(start_run, trainer), inputs, status, api_name="train_start")
        stop.click(bound(stop_run, trainer), None, status, api_name="train_stop")
        resume.click(bound(resume_run, trainer), steps, status, api_name="train_resume")
        download.click(
            bound(download_run, trainer, _exports_dir()), None, files, api_name="train_download"
        )
        _poll_status(trainer, pickers, as_file, status, samples)


def _data_controls() -> tuple[gr.Radio, gr.Number, gr.File]:
    """The data choice: built-in faces (how many) or uploaded photos (files or zips)."""
    data = gr.Radio([BUILT_IN, PHOTOS], value=BUILT_IN, label="Data", elem_id="train-data")
    count = gr.Number(
        DEFAULT_COUNT,
        label="Built-in faces",
        precision=0,
        minimum=1,
        maximum=MAX_COUNT,
        elem_id="train-count",
    )
    photos = gr.File(
        label=f"Photos: image files or zips (up to {MAX_TRAIN_IMAGES:,} images, "
        f"{MAX_TRAIN_BYTES // 2**20} MB unpacked, {MAX_UPLOAD_BYTES} a file)",
        file_count="multiple",
        file_types=[".zip", *IMAGE_SUFFIXES],
        visible=False,
        elem_id="train-photos",
    )
    data.change(
        lambda d: (gr.update(visible=d == BUILT_IN), gr.update(visible=d == PHOTOS)),
        data,
        [count, photos],
        api_visibility="private",
    )
    return data, count, photos


def _poll_status(
    trainer: Trainer, pickers: list[ModelPicker], as_file: Outbox, status, samples
) -> None:
    """A timer polls the run's status and the model lists (cheap: no queue slot taken)."""
    seen = gr.State({"status": "", "samples": "", "version": trainer.status().models_version})
    timer = gr.Timer(POLL_S)
    timer.tick(
        bound(poll, trainer, pickers, as_file),
        [seen, *[p.dropdown for p in pickers]],
        [status, samples, seen, *[c for p in pickers for c in (p.dropdown, p.note)]],
        show_progress="hidden",
        concurrency_limit=None,
        api_visibility="private",
    )


def _preset_size(preset: str) -> int:
    return all_presets()[preset].model.size


def _exports_dir() -> Path:
    """A temporary folder for downloads (Gradio copies what it serves into its cache)."""
    import atexit

    folder = Path(tempfile.mkdtemp(prefix="genrestore-demo-export-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
