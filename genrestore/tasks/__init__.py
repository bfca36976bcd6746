"""Inference: ``load(name or path)`` -> a task object (Generator, Inpainter or Colorizer).

The CLI and the demo call these same objects, so there is one path from a checkpoint to a
result and no second copy of preprocessing. Nothing here imports the training code.
"""

from __future__ import annotations

import os

from ..checkpoint import load_checkpoint
from ..compute import choose
from ..errors import UserError
from ..families import families
from .auto import auto
from .base import Task, open_image_and_mask
from .complete import Completer, LatentEncoder
from .generate import Generator, latents
from .restore import PULL_PUSH, Colorizer, Inpainter, Restorer, pull_push_inpainter
from .runs import (
    CHECKPOINT,
    ema_checkpoint,
    export,
    inference_checkpoint,
    is_run_checkpoint,
    is_run_dir,
)
from .shipped import checkpoint_dirs, list_models, resolve_model_path

__all__ = [
    "CHECKPOINT",
    "Colorizer",
    "Completer",
    "Generator",
    "Inpainter",
    "LatentEncoder",
    "Restorer",
    "Task",
    "auto",
    "checkpoint_dirs",
    "export",
    "inference_checkpoint",
    "is_run_dir",
    "latents",
    "list_models",
    "load",
    "open_image_and_mask",
    "resolve_model_path",
]


def load(name_or_path: str | os.PathLike, device: str = "cpu", precision: str = "auto") -> Task:
    """Load a shipped model by name, a checkpoint by path, or a training run directory.

    Returns the family's task object: Generator (gan, vae), Inpainter or Colorizer.
    ``"pull-push"`` is the network-free photo inpainter (``restore.pull_push_inpainter``).
    ``precision``: "auto" (the fastest measured on this machine; ``$GENRESTORE_PRECISION``
    overrides it), "fp32" or "bf16" (and "fp16" on CUDA).
    """
    if str(name_or_path) == "auto":
        raise UserError(
            "'auto' picks a face or a photo model per image: use genrestore.auto('inpaint') "
            "or genrestore.auto('colorize') (--model auto on inpaint and colorize)"
        )
    if str(name_or_path) == PULL_PUSH:  # the network-free photo inpainter
        return pull_push_inpainter(choose(device, precision, "inference"))
    path = resolve_model_path(name_or_path)
    if path.is_dir():
        ck = inference_checkpoint(path)  # a run directory: its EMA weights
    else:
        ck = load_checkpoint(path)
        if is_run_checkpoint(ck):  # a run's checkpoint file: its EMA weights too
            ck = ema_checkpoint(ck, path)
    compute = choose(device, precision, "inference")
    if ck.family not in families():
        raise UserError(f"{path}: model family {ck.family!r} has no task in this version")
    return families()[ck.family].task_class().from_checkpoint(ck, compute)
