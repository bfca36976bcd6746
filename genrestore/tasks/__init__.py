"""Inference: ``load(name or path)`` -> a task object (Generator, Inpainter or Colorizer).

The CLI and the demo call these same objects, so there is one path from a checkpoint to a
result and no second copy of preprocessing. Nothing here imports the training code.
"""

from __future__ import annotations

import os

from ..checkpoint import Checkpoint, load_checkpoint
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
    "model_checkpoint",
    "open_image_and_mask",
    "resolve_model_path",
]


def model_checkpoint(name_or_path: str | os.PathLike) -> Checkpoint:
    """The inference checkpoint of a shipped model's name, a checkpoint file, or a training
    run (a run directory or its checkpoint file: its EMA weights)."""
    path = resolve_model_path(name_or_path)
    if path.is_dir():
        return inference_checkpoint(path)
    ck = load_checkpoint(path)
    return ema_checkpoint(ck, path) if is_run_checkpoint(ck) else ck


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
    ck = model_checkpoint(name_or_path)
    compute = choose(device, precision, "inference")
    if ck.family not in families():
        raise UserError(f"{ck.path}: model family {ck.family!r} has no task in this version")
    return families()[ck.family].task_class().from_checkpoint(ck, compute)
