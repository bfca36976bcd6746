"""What every training recipe is: the hooks the loop calls, and the helpers they share."""

from __future__ import annotations

import abc
import copy

import torch
from torch import nn

from ...compute import Compute
from ...config import TrainConfig
from ...distributed import SINGLE_PROCESS, Dist
from ...families import family as get_family


def adam(
    params, lr: float, betas: tuple[float, float], device: torch.device
) -> torch.optim.Optimizer:
    """Adam with the fastest kernel for the device: fused on CUDA, multi-tensor on CPU."""
    kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr, betas, **kernel)


@torch.no_grad()
def ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * live for parameters; buffers copied."""
    e = [p for p in ema.parameters()]
    l_ = [p.detach() for p in live.parameters()]
    torch._foreach_lerp_(e, l_, 1.0 - decay)
    for be, bl in zip(ema.buffers(), live.buffers()):
        be.copy_(bl)


def ema_decay(step: int, target: float) -> float:
    """EMA decay at ``step``: ramps up from 0.1 so early averages do not lag, then ``target``."""
    return min(target, (1 + step) / (10 + step))


class Recipe(abc.ABC):
    """How one family trains: the networks, optimizers and random streams, and one step.

    The loop calls ``step(step, real)`` with this process's share of the batch; a recipe
    averages gradients over ``dist`` before each optimizer step. ``modules``,
    ``optimizers`` and ``random_streams`` name everything a run checkpoint must hold, so a
    resumed run continues bit for bit. ``samples`` draws the grids the loop saves.
    """

    uses_data = True  # False: trains on what it generates itself; no images are loaded

    def __init__(
        self,
        cfg: TrainConfig,
        compute: Compute,
        dist: Dist = SINGLE_PROCESS,
        *,
        resuming: bool = False,
    ):
        self.cfg, self.model_cfg, self.compute, self.dist = cfg, cfg.model, compute, dist
        # A resumed run's checkpoint overwrites every weight: a recipe that starts from
        # another model (``init``) then does not read it, so the run resumes without it.
        self.resuming = resuming
        self.device = compute.device
        self.scaler = torch.amp.GradScaler("cuda", enabled=compute.precision == "fp16")

    def place(self, module: nn.Module) -> nn.Module:
        """A network on this recipe's device in its memory layout."""
        return self.compute.layout(module.to(self.device))

    def update_ema(self, ema: nn.Module, live: nn.Module, step: int) -> None:
        ema_update(ema, live, ema_decay(step, self.model_cfg.ema_decay))

    def inference_copy(self, ema: nn.Module) -> nn.Module:
        """A copy of the EMA network prepared as its inference task prepares it, eval mode."""
        model = copy.deepcopy(ema)
        get_family(self.cfg.family).task_class().standing_stats(model, self.model_cfg)
        return model.eval()

    preview: torch.Tensor | None = None  # (8, 3, S, S) fixed real images for sample grids

    def critic_step(
        self, D: nn.Module, opt_d: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One hinge step of the PatchGAN ``D`` on (``real``, ``fake``) views (N, C, H, W),
        then, with ``D`` frozen, the generator's terms on ``fake`` (still in its graph):
        (D's loss, hinge loss, feature matching against ``real``), the last two not yet
        backpropagated. ``D`` is left frozen: call ``D.requires_grad_(True)`` after the
        generator's backward."""
        from ... import losses

        opt_d.zero_grad(set_to_none=True)
        with self.compute.autocast():
            d_real, _ = D(real)
            d_fake, _ = D(fake.detach())
            loss_d = losses.d_loss_hinge(d_real.float(), d_fake.float())
        self.scaler.scale(loss_d).backward()
        self.dist.sync_grads(D.parameters())
        self.scaler.step(opt_d)
        D.requires_grad_(False)
        with self.compute.autocast():
            g_fake, f_fake = D(fake)
            with torch.no_grad():
                _, f_real = D(real)
            adv = losses.g_loss_hinge(g_fake.float())
            fm = losses.feature_matching(f_fake, f_real)
        return loss_d, adv, fm

    def set_preview(self, images: torch.Tensor) -> None:
        """Fixed real images (8, 3, S, S) for the sample grids (recipes that show inputs)."""
        self.preview = images

    def preview_images(self) -> torch.Tensor:
        """The fixed preview images on this recipe's device."""
        if self.preview is None:
            raise RuntimeError("preview images are not set")
        return self.preview.to(self.device)

    @abc.abstractmethod
    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One training step on ``real`` (B, 3, S, S) in [-1, 1] -> detached scalar losses."""

    @abc.abstractmethod
    def samples(self, n: int) -> torch.Tensor:
        """(n, 3, S, S) images in [-1, 1] for a sample grid, from the EMA weights."""

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network of the run by prefix; "model" is the live one, "ema" its average."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer of the run by name."""

    def random_streams(self) -> dict[str, torch.Generator]:
        """The recipe's own random generators by name (saved with the run)."""
        return {}


def build_recipe(
    cfg: TrainConfig, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
) -> Recipe:
    """The recipe of ``cfg.family`` (looked up in the family registry); ``resuming``: its
    weights come from a run checkpoint next, so any ``init`` model is not read."""
    return get_family(cfg.family).recipe_class()(cfg, compute, dist, resuming=resuming)
