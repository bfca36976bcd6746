"""``train(config) -> run_dir``: one loop over every family's recipe, resumable at any save."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..compute import Compute, choose
from ..config import DataConfig, TrainConfig, train_config_from_dict
from ..distributed import Dist, device_for, env_rank, from_env
from ..errors import UserError
from ..families import family as get_family
from ..images import image_grid, save_image, tensor_to_pil
from ..tasks.runs import CHECKPOINT
from .recipes.base import Recipe, build_recipe
from .runstate import load_run, save_run, seed_host
from .sampler import BatchSampler

log = logging.getLogger("genrestore")


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step and the last good checkpoint."""


# --- environment ------------------------------------------------------------------------------


def load_training_images(data: DataConfig, size: int, progress: bool = True) -> np.ndarray:
    """uint8 (N, size, size, 3) for the configured data source."""
    if data.source == "avatars":
        from ..data.avatars import load_faces

        return load_faces(data.count, size, progress=progress)
    if data.source == "photos":
        from ..data.photos import load_photo_crops

        return load_photo_crops(data.count, size)
    from ..data.folder import load_folder

    return load_folder(data.source, size, progress=progress).images


def _check_finite(
    first: int, step: int, values: dict[str, torch.Tensor], run_dir: Path, last_save: int
):
    """Raise TrainingDiverged if a loss (mean over steps ``first``..``step``) is not finite."""
    bad = {k: float(v) for k, v in values.items() if not torch.isfinite(v).all()}
    if bad:
        where = (
            f"the last good checkpoint is {run_dir / CHECKPOINT} (step {last_save})"
            if last_save > 0
            else "no checkpoint was saved yet"
        )
        when = f"at step {step}" if first >= step else f"between steps {first} and {step}"
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(
            f"training diverged {when} ({names}); {where}. "
            "Lower the learning rate or use --precision fp32"
        )


def resolve_config(config: TrainConfig, **overrides) -> TrainConfig:
    """Apply keyword overrides (``data`` may be a path or "avatars") and fill ``out``."""
    if "data" in overrides and isinstance(overrides["data"], (str, os.PathLike)):
        overrides["data"] = dataclasses.replace(config.data, source=str(overrides["data"]))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(overrides) - names
    if unknown:
        raise UserError(f"unknown training options {sorted(unknown)}")
    cfg = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    get_family(cfg.family)  # a clear error for an unknown family
    if cfg.steps < 1 or cfg.batch < 1:
        raise UserError("steps and batch must be at least 1")
    if not cfg.out:
        if env_rank()[1] > 1:  # each process would stamp its own time: one dir is needed
            raise UserError("with several processes (torchrun), give the run directory: --out DIR")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        cfg = dataclasses.replace(
            cfg, out=str(Path("runs") / f"{cfg.family}-{cfg.model.size}-{stamp}")
        )
    return cfg


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: bool = True,
    images: np.ndarray | None = None,
    events: Callable[[dict], None] | None = None,
    stop: Callable[[], bool] | None = None,
    **overrides,
) -> Path:
    """Train ``config`` (keyword overrides: any TrainConfig field) and return the run dir.

    ``images`` (uint8 N, H, W, 3) replaces the configured data source (used by tests).
    ``events(dict)`` hears what a watcher (the demo's Train tab) needs, on the main
    process: ``{"kind": "log", "step", "steps", "img_s", <losses>}`` at each log line,
    ``{"kind": "samples", "step", "path"}`` for each sample grid and ``{"kind": "saved",
    "step"}`` after each checkpoint. ``stop()`` is asked after every step; when it returns
    True the run saves a checkpoint at that step and returns (resume it later).
    With ``resume=True`` the run dir's checkpoint is restored (models, EMA, optimizers, RNG,
    data order) and training continues to ``steps``; the result is bit-for-bit the same as
    an uninterrupted run on CPU.

    Under ``torchrun`` (WORLD_SIZE > 1) each process trains on its share of every global
    batch of ``config.batch`` images, gradients are averaged after each backward, and only
    rank 0 writes the log, sample grids and the checkpoint (which holds every rank's random
    streams, so a distributed resume is exact too). The run directory must be on a
    filesystem all processes see when resuming.
    """
    cfg = resolve_config(config, **overrides)
    rank, world, local_rank = env_rank()
    is_main = rank == 0
    run_dir = Path(cfg.out)
    ckpt_path = run_dir / CHECKPOINT
    if resume:
        if not ckpt_path.exists():
            raise UserError(f"{run_dir}: nothing to resume (no {CHECKPOINT} there)")
        saved = train_config_from_dict(json.loads(load_checkpoint(ckpt_path).meta["train_config"]))
        # Only the length of the run may change on resume.
        if dataclasses.replace(saved, steps=cfg.steps) != cfg:
            cfg = dataclasses.replace(saved, steps=cfg.steps)
    elif ckpt_path.exists():
        raise UserError(
            f"{run_dir} already holds a run; pass --resume to continue it, or a new --out"
        )
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)

    device = device_for(cfg.device, local_rank, world)
    compute = choose(device, cfg.precision, "training")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)  # the same on every rank: same initial weights
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    # Before joining the process group: a long cache build must not run into its timeouts.
    # Every process maps the same cache file; one builds it while the others wait on its lock.
    if images is None and not get_family(cfg.family).recipe_class().uses_data:
        images = np.zeros((max(cfg.batch, 8), cfg.model.size, cfg.model.size, 3), np.uint8)
    if images is None:
        images = load_training_images(cfg.data, cfg.model.size, progress=progress)
    if images.shape[1:] != (cfg.model.size, cfg.model.size, 3) or images.dtype != np.uint8:
        raise UserError(
            f"training images are {images.dtype} {images.shape[1:]}, "
            f"expected uint8 {cfg.model.size}px RGB"
        )
    dist = from_env(device)
    if dist.enabled:  # every rank must compute alike: rank 0's measured choice is the run's
        main = dist.gather({"precision": compute.precision, "channels_last": compute.channels_last})
        compute = dataclasses.replace(compute, **main[0])
    try:
        hooks = _Hooks(events or (lambda event: None), stop or (lambda: False))
        return _train_loop(cfg, run_dir, images, compute, dist, resume, progress, hooks)
    finally:
        dist.close()


@dataclasses.dataclass(frozen=True)
class _Hooks:
    events: Callable[[dict], None]
    stop: Callable[[], bool]


class LossWindow:
    """Loss sums over the steps since the last log line, kept on the device (no host sync
    per step), and the images seen, for the img/s figure."""

    def __init__(self, first_step: int):
        self.first_step, self.t0, self.images = first_step, time.perf_counter(), 0
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor], images: int) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v.float() if k in self.sums else v.float()
            self.counts[k] = self.counts.get(k, 0) + 1
        self.images += images

    def means(self, dist: Dist) -> dict[str, torch.Tensor]:
        """Each loss's mean over the window and over all ranks (the same on every rank)."""
        return dist.mean({k: self.sums[k] / self.counts[k] for k in self.sums})

    def images_per_second(self) -> float:
        return self.images / max(time.perf_counter() - self.t0, 1e-9)


def _start(
    cfg: TrainConfig,
    images: np.ndarray,
    compute: Compute,
    dist: Dist,
    ckpt_path: Path,
    resume: bool,
) -> tuple[BatchSampler, Recipe, int, float]:
    """The sampler and recipe of a run, restored from ``ckpt_path`` when resuming;
    returns them with the step to start after and the wall seconds already spent."""
    sampler = BatchSampler(images, cfg.batch, cfg.seed, cfg.data.hflip, dist.rank, dist.world)
    recipe = build_recipe(cfg, compute, dist, resuming=resume)
    dist.broadcast_modules(recipe.modules().values())
    if dist.rank:  # per-rank streams for anything drawn from the global generators
        seed_host(dist.seed(cfg.seed))
    preview = BatchSampler(images[:8], 8, 0, False).next(compute.device, compute.memory_format)
    recipe.set_preview(preview)
    if resume:
        return (sampler, recipe, *load_run(ckpt_path, recipe, sampler, dist))
    return sampler, recipe, 0, 0.0


def _train_loop(
    cfg: TrainConfig,
    run_dir: Path,
    images: np.ndarray,
    compute: Compute,
    dist: Dist,
    resume: bool,
    progress: bool,
    hooks: _Hooks,
) -> Path:
    """The steps of ``train`` once data, device and process group are settled."""
    from tqdm import tqdm

    ckpt_path = run_dir / CHECKPOINT
    sampler, recipe, start, wall_before = _start(cfg, images, compute, dist, ckpt_path, resume)
    where = compute.describe() + (f" x {dist.world} processes" if dist.enabled else "")
    if dist.is_main:
        (run_dir / "config.json").write_text(cfg.to_json())
        if dist.enabled:
            log.info("%d processes: global batch %d (%d per process)", dist.world,
                     sampler.batch, sampler.local)  # fmt: skip
    last_save, t0 = start, time.perf_counter()
    bar = tqdm(
        range(start + 1, cfg.steps + 1),
        initial=start,
        total=cfg.steps,
        disable=not (progress and dist.is_main),
        desc=f"train {cfg.family}" + (f" x{dist.world}" if dist.enabled else ""),
        unit="step",
        dynamic_ncols=True,
    )
    with contextlib.ExitStack() as stack, bar:
        log_file = stack.enter_context(open(run_dir / "log.txt", "a")) if dist.is_main else None
        if log_file:
            log_file.write(
                f"# {'resume' if resume else 'start'} at step {start} on {where}, "
                f"global batch {sampler.batch} ({sampler.local} per process)\n"
            )
        window = LossWindow(start + 1)
        for step in bar:
            window.add(recipe.step(step, sampler.next(compute.device, compute.memory_format)),
                       sampler.batch)  # fmt: skip
            stopping = bool(dist.mean({"stop": torch.tensor(float(hooks.stop()))})["stop"] > 0)
            last = step == cfg.steps or stopping
            is_log = step % cfg.log_every == 0 or last
            is_save = step % cfg.save_every == 0 or last
            if is_log or is_save:  # a NaN at any step of the window shows in its mean
                means = window.means(dist)
                _check_finite(window.first_step, step, means, run_dir, last_save)
            if is_log:
                if log_file:
                    ips = window.images_per_second()
                    _log_line(log_file, bar, step, means, ips)
                    losses = {k: float(v) for k, v in means.items()}
                    hooks.events({"kind": "log", "step": step, "steps": cfg.steps,
                                  "img_s": ips, **losses})  # fmt: skip
                window = LossWindow(step + 1)
            if dist.is_main and (step % cfg.sample_every == 0 or last):
                grid = image_grid(tensor_to_pil(recipe.samples(64)), cols=8)
                save_image(grid, run_dir / f"samples-{step:07d}.png")
                hooks.events({"kind": "samples", "step": step,
                              "path": str(run_dir / f"samples-{step:07d}.png")})  # fmt: skip
            if is_save:
                dist.check_in_sync(recipe.modules())
                wall = wall_before + time.perf_counter() - t0
                save_run(ckpt_path, recipe, sampler, cfg, step, wall, dist)
                last_save = step
                if dist.is_main:
                    hooks.events({"kind": "saved", "step": step})
            if stopping:
                break
    dist.barrier()  # every rank returns once the last checkpoint is on disk
    return run_dir


def _log_line(log_file, bar, step: int, means: dict[str, torch.Tensor], ips: float) -> None:
    """One JSON line of window means and img/s in log.txt, and the same on the progress bar."""
    bar.set_postfix(**{k: f"{float(v):.3f}" for k, v in means.items()}, img_s=f"{ips:.0f}")
    row = {"step": step, **{k: float(v) for k, v in means.items()}, "img_s": round(ips, 1)}
    log_file.write(json.dumps(row) + "\n")
    log_file.flush()
