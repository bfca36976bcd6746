"""Data-parallel training under ``torchrun``: process group, gradient averaging, rank roles.

``torchrun --nproc_per_node N -m genrestore train ...`` starts N copies of the same command
with RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT in their environment;
:func:`from_env` turns that into a :class:`Dist` (nccl between GPUs, gloo on CPU). Without
those variables it returns a single-process ``Dist`` whose methods do nothing, so one
training loop serves both cases.

Gradients are averaged by hand (one flat all-reduce per optimizer step), as stylegan3's
training loop does (stylegan2-ada-pytorch wraps its modules in DistributedDataParallel
instead), rather than wrapping models in DistributedDataParallel: a GAN
step runs the discriminator three times (real, fake, and for the generator's loss with
its weights frozen) and the lazy R1 penalty needs a double backward, which DDP's reducer
does not expect.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .errors import UserError


@dataclass(frozen=True)
class Dist:
    """This process's place in a data-parallel run (``world == 1``: not distributed)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # True when from_env() created the process group

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, sample grids and checkpoints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def seed(self, base: int, *more: int) -> int:
        """A per-rank seed from ``base`` (and ``more``); just ``base`` on rank 0 without more.

        Rank 0 of a run keeps the single-process seeds, so ``torchrun --nproc_per_node 1``
        and a plain run are the same run.
        """
        if self.rank == 0 and not more:
            return base
        entropy = [base, self.rank, *more]
        return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)

    def sync_grads(self, params: Iterable[nn.Parameter]) -> None:
        """Average the gradients of ``params`` over all ranks (one flat all-reduce).

        A parameter without a gradient on this rank counts as a zero gradient, so every
        rank contributes a tensor of the same layout.
        """
        if not self.enabled:
            return
        params = [p for p in params if p.requires_grad]
        if not params:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)  # keeps the parameter's memory format
        flat = torch.cat([p.grad.flatten() for p in params])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            # copy in place: the gradient keeps its layout (channels_last for conv weights),
            # which the multi-tensor and fused optimizer kernels expect to match the weight's
            p.grad.copy_(flat[offset : offset + n].view(p.shape))
            offset += n

    def mean(self, stats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The mean of each scalar in ``stats`` over all ranks (same keys on every rank)."""
        if not self.enabled or not stats:
            return stats
        keys = sorted(stats)
        flat = torch.stack([stats[k].detach().float().reshape(()) for k in keys])
        torch.distributed.all_reduce(flat)
        flat /= self.world
        return dict(zip(keys, flat.unbind()))

    def broadcast_modules(self, modules: Iterable[nn.Module]) -> None:
        """Copy rank 0's parameters and buffers to every rank (same start everywhere)."""
        if not self.enabled:
            return
        with torch.no_grad():
            for module in modules:
                for t in [*module.parameters(), *module.buffers()]:
                    torch.distributed.broadcast(t.data, src=0)

    def gather(self, obj):
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable objects)."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out

    def check_in_sync(self, modules: dict[str, nn.Module]) -> None:
        """Raise if the ranks' parameters differ (they must: same start, same averaged grads)."""
        if not self.enabled:
            return
        sums = torch.tensor(
            [
                float(sum(p.detach().double().sum() for p in m.parameters()))
                for m in modules.values()
            ],
            dtype=torch.float64,
        )
        rows = self.gather(sums)
        for r, other in enumerate(rows):
            if not torch.equal(other, rows[0]):
                raise RuntimeError(
                    f"rank {r}'s weights differ from rank 0's ({list(modules)}): "
                    "the processes are out of sync"
                )

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def close(self) -> None:
        """Destroy the process group if this object created it."""
        if self.owns_group and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


SINGLE_PROCESS = Dist()  # the default: not distributed


def env_rank() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) outside torchrun."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise UserError("RANK, WORLD_SIZE and LOCAL_RANK must be integers") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"RANK={rank} is not within WORLD_SIZE={world}")
    return rank, world, local


def device_for(name: str, local_rank: int, world: int) -> torch.device:
    """The device this process trains on: with several processes and CUDA, one GPU each."""
    from .compute import resolve_device

    device = resolve_device(name)
    if device.type == "cuda" and world > 1 and device.index is None:
        if local_rank >= torch.cuda.device_count():
            raise UserError(
                f"local rank {local_rank} has no GPU: this machine has "
                f"{torch.cuda.device_count()}; start at most that many processes per node"
            )
        device = torch.device("cuda", local_rank)
    if device.type == "cuda" and world > 1:
        torch.cuda.set_device(device)  # nccl and cuda kernels default to this GPU
    return device


def from_env(device: torch.device, timeout_minutes: float = 60.0) -> Dist:
    """Join the process group torchrun describes in the environment (or none: world 1).

    If the caller already initialised ``torch.distributed`` it is used as it is.
    """
    rank, world, local = env_rank()
    if world == 1:
        return Dist()
    if not torch.distributed.is_available():
        raise UserError("this PyTorch build has no torch.distributed; run one process")
    if torch.distributed.is_initialized():
        return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size(), local)
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(
        backend,
        timeout=datetime.timedelta(minutes=timeout_minutes),
        device_id=device if device.type == "cuda" else None,
    )
    return Dist(rank, world, local, owns_group=True)
