"""The Complete tab: keep a small part of a face visible and let a gan or vae draw the rest."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from genrestore import UserError
from genrestore.data.masks import KEEP_REGIONS, keep_mask

from .generate import SHIPPED, WHAT
from .widgets import (
    ByTask,
    ModelPicker,
    Outbox,
    bound,
    editor_image,
    example_faces,
    missing_note,
    model_dropdown,
    pick,
    shown_in_ui,
    with_holes,
)

PAINTED = "painted"  # the "what stays visible" choice for a brushed region


@shown_in_ui
def complete(
    generators: Mapping,
    as_file: Outbox,
    value: dict | None,
    name: str | None,
    region: str,
    n: float,
    seed: float | None,
    progress=gr.Progress(),  # noqa: B008
) -> tuple[str, list[str]]:
    """``n`` faces that match the visible part -> (visible part, completions best first)."""
    gen = pick(generators, name, "generative")
    rgb, painted, _ = editor_image(value)
    if region == PAINTED:
        if not painted.any():
            raise UserError("Brush over the part that stays visible, or choose a region.")
        missing = ~painted
    else:
        missing = keep_mask(region, *rgb.size)
    progress(0, desc="drawing faces that match")
    faces = gen.complete(rgb, missing, samples=int(n), seed=int(seed or 0))
    return as_file(with_holes(rgb, missing)), [as_file(f) for f in faces]


def build_complete_tab(
    generators: ByTask, problems: dict[str, str], examples: list[str], as_file: Outbox
) -> ModelPicker:
    """The Complete tab, inside the current Blocks; ``generators``: {name: gan or vae}."""
    with gr.Tab("Complete", id="complete", elem_id="tab-complete"):
        note = missing_note(WHAT, generators, SHIPPED, problems)
        gr.Markdown(
            "Keep only a small part of a face visible and draw the rest: the model draws "
            "faces that match what is visible (in one pass where it ships a completion "
            "encoder, otherwise by searching its latent space). Regions "
            "assume a face centred in a square, like the examples; with **painted**, "
            "brush over the part that stays visible."
        )
        with gr.Row():
            editor = gr.ImageEditor(
                label="Face",
                type="numpy",
                image_mode="RGBA",
                format="png",
                sources=["upload", "clipboard"],
                brush=gr.Brush(colors=["#00c000"], color_mode="fixed"),
                elem_id="complete-editor",
            )
            inputs, run = _controls(generators)
        with gr.Row():
            visible = gr.Image(
                label="Visible part",
                format="png",
                interactive=False,
                elem_id="complete-visible",
                scale=1,
            )
            gallery = gr.Gallery(
                label="Completions (best fit first)",
                columns=4,
                format="png",
                elem_id="complete-gallery",
                height=320,
                scale=3,
            )
        example_faces(examples, editor, "complete-examples")
        run.click(
            bound(complete, generators, as_file),
            [editor, *inputs],
            [visible, gallery],
            api_name="complete",
        )
    return ModelPicker(generators, inputs[0], note)


def _controls(generators: Mapping) -> tuple[list[gr.components.Component], gr.Button]:
    """The column beside the editor -> ([model, region, samples, seed], the Complete button)."""
    with gr.Column():
        model = model_dropdown(generators, "complete-model")
        region = gr.Radio([*KEEP_REGIONS, PAINTED], value="left-eye", label="What stays visible")
        samples = gr.Slider(1, 8, value=4, step=1, label="Samples")
        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
        run = gr.Button("Complete", variant="primary", elem_id="complete-run")
    return [model, region, samples, seed], run
