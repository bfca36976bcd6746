"""The Colorize tab: predict the colors of a gray photo, shown before / after on a slider."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from .widgets import (
    ByTask,
    ModelPicker,
    Outbox,
    bound,
    example_faces,
    missing_note,
    model_dropdown,
    open_upload,
    pick,
    shown_in_ui,
)


@shown_in_ui
def colorize(
    colorizers: Mapping,
    as_file: Outbox,
    path: str | None,
    name: str | None = None,
    progress=gr.Progress(),  # noqa: B008
) -> tuple[str, str]:
    """Color the upload at ``path`` -> (its gray version, the colorized photo) PNG files."""
    task = pick(colorizers, name, "colorization")
    rgb, _ = open_upload(path)
    gray = rgb.convert("L")  # what the colorizer sees: a color upload is made gray first
    progress(0, desc="colorizing")
    return as_file(gray), as_file(task(rgb))


def build_colorize_tab(
    colorizers: ByTask,
    problems: dict[str, str],
    examples: list[str],
    as_file: Outbox,
    photos: list[str] = (),
) -> ModelPicker:
    """The Colorize tab, inside the current Blocks; ``colorizers``: {name: colorizer}."""
    with gr.Tab("Colorize", id="colorize", elem_id="tab-colorize"):
        note = missing_note("colorization", colorizers, ["faces-colorize-64"], problems)
        gr.Markdown(
            "Upload a gray or color photo (a color one is made gray first). The result "
            "keeps the photo's size and its brightness; only the colors are predicted."
        )
        with gr.Row():
            photo = gr.Image(
                label="Photo",
                type="filepath",
                image_mode=None,
                sources=["upload", "clipboard"],
                elem_id="color-input",
            )
            slider = gr.ImageSlider(
                label="Before / after",
                format="png",
                type="pil",
                interactive=False,
                elem_id="color-slider",
                max_height=400,
            )
        with gr.Row():
            model = model_dropdown(colorizers, "color-model")
            run = gr.Button("Colorize", variant="primary", elem_id="color-run")
        example_faces(examples, photo, "color-examples")
        example_faces(photos, photo, "color-photo-examples", label="Photos (scikit-image)")
        handler = bound(colorize, colorizers, as_file)
        run.click(handler, [photo, model], slider, api_name="colorize")
    return ModelPicker(colorizers, model, note)
