"""The Generate tab: sample faces from a gan or vae by seed, and interpolate between two seeds."""

from __future__ import annotations

from collections.abc import Mapping

import gradio as gr

from genrestore.images import image_grid

from .widgets import (
    ByTask,
    ModelPicker,
    Outbox,
    bound,
    missing_note,
    model_dropdown,
    pick,
    random_seed,
    shown_in_ui,
)

WHAT = "generative (gan or vae)"  # how the messages name the models this tab needs
SHIPPED = ["faces-gan-64", "faces-vae-64"]  # named in the message when none is loaded
# The face sizes offered: the default (256 px, drawn sharp by the shipped upscaler, for the
# shipped 64-px models) or the model's own (as sampled).
SIZES = ["Large (256 px where the upscaler serves the model)", "Model's own (64 px)"]


def _side(gen, size: str) -> int:
    """The face side for the ``SIZES`` choice ``size``."""
    return gen.size if size == SIZES[1] else gen.default_size


# A gr.Progress() default is how Gradio hands a handler its progress bar; the builders bind
# the leading arguments (the models, the outbox) with ``bound``.
@shown_in_ui
def generate(
    generators: Mapping,
    as_file: Outbox,
    name: str | None,
    n: float,
    seed: float | None,
    truncation: float,
    size: str = SIZES[0],
    progress=gr.Progress(),  # noqa: B008
) -> list[str]:
    """Sample ``n`` faces from the model ``name`` at the chosen ``size`` -> their PNG files."""
    gen = pick(generators, name, "generative")
    progress(0, desc="sampling faces")
    faces = gen.generate(
        int(n), seed=int(seed or 0), truncation=float(truncation), size=_side(gen, size)
    )
    return [as_file(f) for f in faces]


@shown_in_ui
def interpolate(
    generators: Mapping,
    as_file: Outbox,
    name: str | None,
    a: float | None,
    b: float | None,
    k: float,
    size: str = SIZES[0],
    progress=gr.Progress(),  # noqa: B008
) -> str:
    """``k`` faces from seed ``a`` to seed ``b`` at the chosen ``size`` -> one PNG strip."""
    gen = pick(generators, name, "generative")
    progress(0, desc="interpolating")
    faces = gen.interpolate(int(a or 0), int(b or 0), int(k), size=_side(gen, size))
    return as_file(image_grid(faces, cols=len(faces)))


def build_generate_tab(
    generators: ByTask, problems: dict[str, str], as_file: Outbox
) -> ModelPicker:
    """The Generate tab, inside the current Blocks; ``generators``: {name: gan or vae}."""
    with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
        note = missing_note(WHAT, generators, SHIPPED, problems)
        with gr.Row():
            model = model_dropdown(generators, "gen-model")
            n = gr.Slider(1, 64, value=16, step=1, label="Number of faces")
            seed = gr.Number(0, label="Seed", precision=0, minimum=0, elem_id="gen-seed")
            dice = gr.Button("🎲 Random seed", elem_id="gen-dice", scale=0, min_width=140)
            trunc = gr.Slider(
                0.1, 1.0, value=1.0, step=0.05, label="Truncation (lower: less variety)"
            )
        size = gr.Radio(SIZES, value=SIZES[0], label="Face size", elem_id="gen-size")
        run = gr.Button("Generate", variant="primary", elem_id="gen-run")
        gallery = gr.Gallery(
            label="Faces", columns=8, format="png", elem_id="gen-gallery", height=320
        )
        gr.Examples(
            [[8, 0, 1.0], [16, 7, 0.7], [32, 2024, 0.5]], [n, seed, trunc], label="Examples"
        )
        handler = bound(generate, generators, as_file)
        inputs = [model, n, seed, trunc, size]
        run.click(handler, inputs, gallery, api_name="generate")
        dice.click(random_seed, None, seed, api_visibility="private").then(
            handler, inputs, gallery, api_visibility="private"
        )
        _interpolation(model, size, generators, as_file)
    return ModelPicker(generators, model, note)


def _interpolation(
    model: gr.Dropdown, size: gr.Radio, generators: Mapping, as_file: Outbox
) -> None:
    """The tab's second part: a strip of faces between two seeds of the chosen model, at the
    chosen face size."""
    gr.Markdown("### Interpolation between two seeds")
    with gr.Row():
        seed_a = gr.Number(0, label="From seed", precision=0, minimum=0)
        seed_b = gr.Number(1, label="To seed", precision=0, minimum=0)
        steps = gr.Slider(2, 16, value=8, step=1, label="Steps")
    run = gr.Button("Interpolate", elem_id="interp-run")
    strip = gr.Image(label="Interpolation", format="png", interactive=False, elem_id="interp-strip")
    run.click(
        bound(interpolate, generators, as_file),
        [model, seed_a, seed_b, steps, size],
        strip,
        api_name="interpolate",
    )
