"""The Inpaint tab: paint over a region of a face (or add random damage) and fill it in."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from genrestore import UserError
from genrestore.data.masks import mask_batch

from .widgets import (
    ByTask,
    ModelPicker,
    Outbox,
    bound,
    editor_image,
    editor_value,
    example_faces,
    missing_note,
    model_dropdown,
    pick,
    random_seed,
    shown_in_ui,
    with_holes,
)

DAMAGE_KINDS = ("box", "stroke", "large")  # random-damage masks from data/masks.py


@shown_in_ui
def inpaint(
    inpainters: Mapping,
    as_file: Outbox,
    value: dict | None,
    name: str | None = None,
    progress=gr.Progress(),  # noqa: B008
) -> tuple[str, str]:
    """Fill the painted (and transparent) pixels -> (damaged input, inpainted) PNG files."""
    task = pick(inpainters, name, "inpainting")
    rgb, painted, transparent = editor_image(value)
    missing = painted if transparent is None else painted | transparent
    if not missing.any():
        raise UserError("Paint over the region to fill (or press Random damage) first.")
    progress(0, desc="inpainting")
    return as_file(with_holes(rgb, missing)), as_file(task(rgb, missing))


@shown_in_ui
def damage(as_file: Outbox, value: dict | None, kind: str, seed: float | None) -> dict:
    """The editor's image with a random ``kind`` mask painted on it -> a new editor value."""
    rgb, _, _ = editor_image(value)
    w, h = rgb.size
    missing = mask_batch(1, h, w, int(seed or 0), kind=kind)[0]
    return editor_value(rgb, missing, as_file)


def build_inpaint_tab(
    inpainters: ByTask,
    problems: dict[str, str],
    examples: list[str],
    as_file: Outbox,
    photos: list[str] = (),
) -> ModelPicker:
    """The Inpaint tab, inside the current Blocks; ``inpainters``: {name: inpainter}."""
    with gr.Tab("Inpaint", id="inpaint", elem_id="tab-inpaint"):
        note = missing_note("inpainting", inpainters, ["faces-inpaint-64"], problems)
        gr.Markdown(
            "Upload a face or a photo, or pick an example, then paint over the damaged region with "
            "the brush (or press **Random damage**) and press **Inpaint**."
        )
        with gr.Row():
            editor = gr.ImageEditor(
                label="Image (paint the region to fill)",
                type="numpy",
                image_mode="RGBA",
                format="png",
                sources=["upload", "clipboard"],
                brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"),
                elem_id="inpaint-editor",
            )
            with gr.Column():
                model = model_dropdown(inpainters, "inpaint-model")
                kind = gr.Radio(list(DAMAGE_KINDS), value="stroke", label="Random damage shape")
                seed = gr.Number(0, label="Damage seed", precision=0, minimum=0)
                damage_button = gr.Button("Random damage", elem_id="inpaint-damage")
                run = gr.Button("Inpaint", variant="primary", elem_id="inpaint-run")
        with gr.Row():
            damaged = gr.Image(
                label="Damaged input", format="png", interactive=False, elem_id="inpaint-damaged"
            )
            result = gr.Image(
                label="Inpainted", format="png", interactive=False, elem_id="inpaint-result"
            )
        example_faces(examples, editor, "inpaint-examples")
        example_faces(photos, editor, "inpaint-photo-examples", label="Photos (scikit-image)")

        fill = bound(inpaint, inpainters, as_file)
        run.click(fill, [editor, model], [damaged, result], api_name="inpaint")
        damage_button.click(random_seed, None, seed, api_visibility="private").then(
            bound(damage, as_file), [editor, kind, seed], editor, api_name="damage"
        ).success(fill, [editor, model], [damaged, result], api_visibility="private")
    return ModelPicker(inpainters, model, note)
