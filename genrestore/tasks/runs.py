"""A training run directory seen from the inference side: its EMA network, and its export.

Reading a run needs only the checkpoint file and the family registry, never the training
code: the EMA weights are loaded into the family's inference network and prepared as its
task says (standing BN statistics for generators).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from ..checkpoint import Checkpoint, load_checkpoint, save_fp16, weights_digest
from ..config import train_config_from_dict
from ..errors import UserError
from ..families import family as get_family

CHECKPOINT = "checkpoint.safetensors"  # the one file of a run directory that holds its state


def is_run_dir(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and (Path(path) / CHECKPOINT).exists()


def is_run_checkpoint(ck: Checkpoint) -> bool:
    """Whether a loaded checkpoint is a training run's (its config and EMA weights in it)."""
    return "train_config" in ck.meta and any(k.startswith("ema.") for k in ck.tensors)


def inference_checkpoint(
    run_dir: str | os.PathLike, card: dict | None = None, settings: dict | None = None
) -> Checkpoint:
    """A run's EMA network (prepared for inference) as an in-memory fp32 checkpoint.

    ``run_dir``: a run directory, or a run's checkpoint file (e.g. a copy kept as a
    snapshot). ``settings``: model-config fields set for inference (e.g. a colorizer's
    ``chroma`` chosen on held-out photos); the card records them.
    """
    run_dir = Path(run_dir)
    file = run_dir if run_dir.is_file() else run_dir / CHECKPOINT
    if not file.exists():
        raise UserError(f"{run_dir}: is a folder without a training run ({CHECKPOINT}) in it")
    ck = load_checkpoint(file)
    if not is_run_checkpoint(ck):
        raise UserError(f"{file}: not a training run checkpoint")
    return ema_checkpoint(ck, run_dir, card, settings)


def ema_checkpoint(
    ck: Checkpoint,
    run_dir: str | os.PathLike,
    card: dict | None = None,
    settings: dict | None = None,
) -> Checkpoint:
    """``inference_checkpoint`` of a run checkpoint already loaded from ``run_dir`` (a run
    directory or its checkpoint file, named in errors and as the result's source)."""
    cfg = train_config_from_dict(json.loads(ck.meta["train_config"]))
    fam = get_family(cfg.family)
    model = fam.build_network(cfg.model)
    try:
        model.load_state_dict(ck.group("ema"))
    except RuntimeError as exc:
        raise UserError(f"{run_dir}: EMA weights do not fit the run's config ({exc})") from None
    fam.task_class().standing_stats(model, cfg.model)
    try:
        model_cfg = dataclasses.replace(cfg.model, **(settings or {}))
    except TypeError as exc:
        raise UserError(
            f"{run_dir}: a setting is not a {cfg.family} config field ({exc})"
        ) from None
    source, generator = cfg.data.source, getattr(cfg.model, "generator", None)
    data = source if source != "avatars" else f"built-in faces [0, {cfg.data.count})"
    if source == "photos":
        from ..data.photos import PACKAGES, photo_files, photo_names

        try:
            data = {
                "crops": cfg.data.count,
                "photos": photo_names(photo_files()),
                "validation photos (held out)": photo_names(photo_files(split="validation")),
            }
        except UserError:  # loaded where the packages are not installed
            data = f"{cfg.data.count} crops of the photos in {' and '.join(PACKAGES)}"
    if generator:  # trained on a frozen generator's samples, not on images
        from . import model_checkpoint

        data = f"samples of {generator}"
        # which weights: a completer refuses this model beside any other (complete.py);
        # a run whose generator is no longer there still loads, without the fingerprint
        try:
            digest = {
                "generator_digest": weights_digest(model_checkpoint(generator).group("model"))
            }
        except UserError:
            digest = {}
        card = {**digest, **(card or {})}
    card = {
        "family": cfg.family,
        "steps": ck.step,
        "wall_seconds": float(ck.meta.get("wall_seconds", 0.0)),
        "data": data,
        "train_config": cfg.to_dict(),
        **({"settings_at_export": settings} if settings else {}),
        **(card or {}),
    }
    tensors = {f"model.{k}": v for k, v in model.eval().state_dict().items()}
    return Checkpoint(
        cfg.family, dataclasses.asdict(model_cfg), ck.step, card, tensors, {}, str(run_dir)
    )


def export(
    run_dir: str | os.PathLike,
    out_path: str | os.PathLike,
    card: dict | None = None,
    settings: dict | None = None,
) -> dict:
    """Write a run's EMA network as fp16 inference weights + a JSON model card beside it
    (``settings``: model-config fields set for inference, see ``inference_checkpoint``)."""
    ck = inference_checkpoint(run_dir, card, settings)
    save_fp16(ck, out_path)
    Path(out_path).with_suffix(".json").write_text(
        json.dumps(ck.card, indent=2, sort_keys=True) + "\n"
    )
    return ck.card
