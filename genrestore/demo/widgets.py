"""What the demo's tabs share: limits, upload checks, editor values, result files, examples."""

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from genrestore import UserError
from genrestore.images import open_image_with_alpha, source_name

log = logging.getLogger("genrestore")

MAX_UPLOAD_PIXELS = 16_000_000  # uploads above this are refused with a message
MAX_UPLOAD_BYTES = "25mb"  # Gradio refuses larger files before they reach the app
EXAMPLE_COUNT = 6  # held-out built-in faces offered as examples on every tab
EXAMPLE_SIZE = 256  # px; any size works (models run at their own), 256 is easy to paint on
QUEUE_CONCURRENCY = 2  # requests computed at once; the rest wait in the queue
QUEUE_SIZE = 64  # waiting requests beyond this are refused ("queue is full")
PAINT_RGBA = (255, 0, 255, 255)  # the colour random damage is drawn with in the editor
NO_MODEL = "(none)"  # the model dropdown's one choice while a tab has no model


# --- models -----------------------------------------------------------------------------------


class ByTask(Mapping):
    """The models of the shared ``models`` dict that are ``task_class`` tasks, read live.

    The Train tab adds its runs to that dict while the demo serves, so a tab holds this
    view rather than a copy. Reads copy the items first: the dict may change meanwhile.
    """

    def __init__(self, models: dict, task_class: type):
        self.models, self.task_class = models, task_class

    def _items(self) -> list[tuple[str, object]]:
        return [(n, m) for n, m in list(self.models.items()) if isinstance(m, self.task_class)]

    def __getitem__(self, name: str):
        model = self.models[name]
        if not isinstance(model, self.task_class):
            raise KeyError(name)
        return model

    def __iter__(self) -> Iterator[str]:
        return iter([n for n, _ in self._items()])

    def __len__(self) -> int:
        return len(self._items())


def by_task(models: dict, task_class: type) -> ByTask:
    """The models of ``models`` ({name: task object}) that are ``task_class`` tasks (live)."""
    return ByTask(models, task_class)


@dataclass(frozen=True)
class ModelPicker:
    """A tab's model choice, which build_app updates when the Train tab adds a model."""

    models: ByTask  # the models the tab can run
    dropdown: gr.Dropdown  # hidden while there is one choice
    note: gr.Markdown  # the missing-model message, shown while there is none

    def update(self, chosen: str | None) -> tuple[dict, dict]:
        """Updates for (dropdown, note) that show the current models, keeping ``chosen``."""
        names = choices(self.models)
        value = chosen if chosen in names else names[0]
        return (
            gr.update(choices=names, value=value, visible=len(names) > 1),
            gr.update(visible=not self.models),
        )


def choices(models: Mapping) -> list[str]:
    """A model dropdown's choices: the model names, or "(none)"."""
    return list(models) or [NO_MODEL]


def model_dropdown(models: Mapping, elem_id: str) -> gr.Dropdown:
    """In the current layout: the dropdown of ``models`` (hidden while there is one)."""
    names = choices(models)
    return gr.Dropdown(
        names, value=names[0], label="Model", visible=len(names) > 1, elem_id=elem_id
    )


def missing_text(what: str, names: list[str], problems: dict[str, str]) -> str:
    """The message a tab shows when it has no model."""
    reasons = "; ".join(f"{n}: {problems[n]}" for n in names if n in problems)
    return (
        f"**No {what} model is loaded, so this tab cannot run.** "
        + (f"({reasons}) " if reasons else "")
        + "Put the checkpoint in `checkpoints/` (or the folder named by "
        "`GENRESTORE_CHECKPOINTS`) and restart the demo, or train one in the **Train** tab."
    )


def missing_note(
    what: str, have: Mapping, names: list[str], problems: dict[str, str]
) -> gr.Markdown:
    """In the current tab: the missing-model message, visible while ``have`` holds no model."""
    return gr.Markdown(
        missing_text(what, names, problems), elem_classes=["model-missing"], visible=not have
    )


def pick(models: Mapping, name: str | None, what: str):
    """The model called ``name``, else the first one; a UserError when there is none."""
    if not models:
        raise UserError(f"No {what} model is loaded; see the message at the top of this tab.")
    if name not in models:
        name = next(iter(models))
    return models[name]


# --- handlers and their input -----------------------------------------------------------------


def shown_in_ui(fn):
    """Turn every failure of a handler into a readable message in the UI, never a traceback.

    A ``UserError`` becomes its own message; any other exception is logged with its
    traceback and shown as its type and first line.
    """

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
            raise gr.Error(
                f"Something went wrong ({error_text(exc)}). Try another image or setting.",
                print_exception=False,
            ) from None

    return wrapper


def error_text(exc: BaseException) -> str:
    """An unexpected exception in one line: its type and the first line of its message."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}{': ' + first if first else ''}"


def bound(handler, *args):
    """``handler`` with its leading arguments (the models, the outbox) bound.

    Keeps the handler's name, which Gradio gives the event's endpoint (a bare partial has
    none); Gradio still sees the handler's remaining parameters, ``progress`` included.
    """
    fn = functools.partial(handler, *args)
    fn.__name__ = handler.__name__
    return fn


def random_seed() -> int:
    """A fresh seed for the dice buttons."""
    return random.randrange(2**31)


def open_upload(src, max_pixels: int = MAX_UPLOAD_PIXELS) -> tuple[Image.Image, np.ndarray | None]:
    """Validate an upload (path or array) -> (RGB image, transparent pixels or None)."""
    if src is None:
        raise UserError("Upload an image or pick an example first.")
    try:
        return open_image_with_alpha(src, max_pixels=max_pixels)
    except UserError as exc:
        # The source is a temporary file name or "<numpy image>": say "the image" instead.
        text = str(exc).removeprefix(f"{source_name(src)}: ")
        raise UserError(f"This upload cannot be used: {text}.") from None


def editor_image(
    value: dict | None, max_pixels: int = MAX_UPLOAD_PIXELS
) -> tuple[Image.Image, np.ndarray, np.ndarray | None]:
    """An ImageEditor value -> (RGB background, painted bool (H, W), transparent or None).

    The painted region is the union of the layers' alpha: any brushed pixel counts. An
    empty editor or a background over ``max_pixels`` raises a UserError.
    """
    if not value or value.get("background") is None:
        raise UserError("Upload an image or pick an example first.")
    rgb, transparent = open_upload(value["background"], max_pixels)
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


def editor_value(rgb: Image.Image, missing: np.ndarray, as_file: Outbox) -> dict:
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


def with_holes(rgb: Image.Image, missing: np.ndarray) -> Image.Image:
    """For display only: the image with its missing pixels blanked out (light gray)."""
    arr = np.asarray(rgb).copy()
    arr[missing] = 200
    return Image.fromarray(arr)


# --- result files and example faces -----------------------------------------------------------


class Outbox:
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


def example_paths(count: int = EXAMPLE_COUNT, size: int = EXAMPLE_SIZE) -> list[str]:
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


def example_photo_paths(names=("coffee", "chelsea", "rocket", "astronaut")) -> list[str]:
    """scikit-image's sample photos (never used in training), at most 512 px, as PNGs."""
    try:
        import skimage.data
    except ImportError:  # examples are optional; the demo runs without
        log.warning("demo: no example photos (pip install scikit-image)")
        return []
    folder = Path(tempfile.mkdtemp(prefix="genrestore-demo-photos-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    paths = []
    for name in names:
        img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        img.thumbnail((512, 512), Image.LANCZOS)
        path = folder / f"photo-{name}.png"
        img.save(path)
        paths.append(str(path))
    return paths


def example_faces(
    paths: list[str],
    component: gr.components.Component,
    elem_id: str,
    label: str = "Held-out faces",
) -> None:
    """In the current tab: example images for ``component`` (no paths: nothing)."""
    if paths:
        gr.Examples([[p] for p in paths], [component], label=label, elem_id=elem_id)
