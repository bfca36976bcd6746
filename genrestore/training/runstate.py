"""A run's whole state in one atomically written safetensors file, and back, bit for bit.

Models, EMA, optimizers, the sampler's data order and every rank's random streams go into
``checkpoint.safetensors`` (tensors + JSON metadata); nothing is ever pickled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import (
    load_checkpoint,
    optimizer_from_tensors,
    optimizer_to_tensors,
    save_checkpoint,
)
from ..config import TrainConfig
from ..distributed import SINGLE_PROCESS, Dist
from ..errors import UserError
from .recipes.base import Recipe
from .sampler import BatchSampler

log = logging.getLogger("genrestore")


def seed_host(seed: int) -> None:
    """Seed torch's, Python's and numpy's global generators (numpy's takes 32 bits)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _rng_meta() -> str:
    np_state = np.random.get_state()
    return json.dumps(
        {
            "python": list(random.getstate()[1]) + [random.getstate()[2]],
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        }
    )


def _restore_rng_meta(text: str) -> None:
    st = json.loads(text)
    py = st["python"]
    random.setstate((3, tuple(py[:-1]), py[-1]))
    n = st["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), *n[2:]))


def _rng_states(recipe: Recipe) -> dict:
    """This process's random streams: the recipe's generators, torch's, Python's and numpy's."""
    tensors = {name: g.get_state() for name, g in recipe.random_streams().items()}
    tensors["torch"] = torch.get_rng_state()
    return {"tensors": tensors, "host": _rng_meta()}


def save_run(
    path: Path,
    recipe: Recipe,
    sampler: BatchSampler,
    cfg: TrainConfig,
    step: int,
    wall: float,
    dist: Dist = SINGLE_PROCESS,
):
    """Collective: every rank hands over its RNG state; rank 0 writes the one checkpoint.

    Rank 0's streams keep the single-process names (``rng.z``, meta ``rng_host``); rank r > 0
    adds ``rng.rank<r>.*`` and ``rng_host.rank<r>``. Models, optimizers and the sampler are
    identical on every rank, so they are stored once.
    """
    states = dist.gather(_rng_states(recipe))
    if not dist.is_main:
        return
    tensors: dict[str, torch.Tensor] = {}
    for prefix, mod in recipe.modules().items():
        for k, v in mod.state_dict().items():
            tensors[f"{prefix}.{k}"] = v
    optim_meta = {}
    for name, opt in recipe.optimizers().items():
        t, rest = optimizer_to_tensors(opt, f"optim.{name}")
        tensors.update(t)
        optim_meta[name] = rest
    meta = {}
    for r, st in enumerate(states):
        tag = "" if r == 0 else f"rank{r}."
        for name, state in st["tensors"].items():
            tensors[f"rng.{tag}{name}"] = state
        meta["rng_host" if r == 0 else f"rng_host.rank{r}"] = st["host"]
    for k, v in sampler.state().items():
        tensors[f"sampler.{k}"] = v
    save_checkpoint(
        path,
        tensors,
        family=cfg.family,
        config=dataclasses.asdict(cfg.model),
        step=step,
        meta={
            "train_config": json.dumps(cfg.to_dict(), sort_keys=True),
            "optim": json.dumps(optim_meta),
            "wall_seconds": f"{wall:.1f}",
            "world_size": str(dist.world),
            **meta,
        },
    )


def load_run(
    path: Path, recipe: Recipe, sampler: BatchSampler, dist: Dist = SINGLE_PROCESS
) -> tuple[int, float]:
    """Restore a run checkpoint on this rank; returns (step, wall seconds so far).

    A rank the checkpoint has no random streams for (the run was saved by fewer processes)
    starts fresh streams seeded by (seed, rank, step): training goes on correctly, just not
    bit-identical to an uninterrupted run.
    """
    ck = load_checkpoint(path)
    for prefix, mod in recipe.modules().items():
        try:
            mod.load_state_dict(ck.group(prefix))
        except RuntimeError as exc:
            raise UserError(f"{path}: weights do not fit this config ({str(exc)[:200]})") from None
    optim_meta = json.loads(ck.meta["optim"])
    for name, opt in recipe.optimizers().items():
        optimizer_from_tensors(opt, ck.tensors, f"optim.{name}", optim_meta[name])
    sampler.load_state(ck.group("sampler"))
    saved_world = int(ck.meta.get("world_size", "1"))
    tag = "" if dist.rank == 0 else f"rank{dist.rank}."
    if f"rng.{tag}torch" in ck.tensors:
        for name, g in recipe.random_streams().items():
            g.set_state(ck.tensors[f"rng.{tag}{name}"])
        torch.set_rng_state(ck.tensors[f"rng.{tag}torch"])
        _restore_rng_meta(ck.meta["rng_host" if dist.rank == 0 else f"rng_host.{tag[:-1]}"])
    else:
        seed = recipe.cfg.seed
        for k, g in enumerate(recipe.random_streams().values()):
            g.manual_seed(dist.seed(seed, ck.step, k + 1))
        seed_host(dist.seed(seed, ck.step, 0))
    if saved_world != dist.world and dist.is_main:
        log.warning(
            "%s was saved by %d process(es) and resumes with %d: the data order goes on where "
            "it stopped, but the random streams differ from an uninterrupted run",
            path,
            saved_world,
            dist.world,
        )
    return ck.step, float(ck.meta.get("wall_seconds", 0.0))
