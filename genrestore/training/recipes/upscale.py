"""Upscaler training: a crop of each real image, shrunk by the factor, is upscaled back (L1).

The shrink is a box filter, or (``shrink="lanczos"``) PIL's Lanczos, the filter that draws
every image genrestore's smaller models learn from (a face rendered at 64 px, a photo
folder's images): an upscaler trained on box shrinks draws those images' sharper edges
with ringing around them.

A guided upscaler (inpainting) gets, instead of the plain shrink, the shrink with its hole
filled by the ``base`` face inpainter (as tasks/restore.py pastes that model's answer), plus
the crop's known pixels at full size; its L1 counts the hole (known pixels are pasted back
at inference) and, at a tenth of the weight, the rest.

A plain upscaler may also train against a PatchGAN critic of its output crops
(``adv_weight``, ``fm_weight``): L1 alone draws the average of the sharp edges a small image
allows, and the critic asks for edges like the true ones.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ...compute import Compute
from ...data.masks import parse_mask_mix, training_masks
from ...distributed import SINGLE_PROCESS, Dist
from ...errors import UserError
from ...models.fill import gaussian_blur
from ...models.patchgan import PatchGAN
from ...models.upscale import UpscaleNet
from .base import Recipe, adam

NOISE_STD = 0.06  # degraded inputs: noise of std up to this ([-1, 1] units, ~8 gray levels)
NOISE_SIGMA = 1.5  # ... smoothed by a Gaussian of up to this many px (a mottle, not grain)
BLUR_SIGMA = 0.8  # ... and the input blurred by a Gaussian of up to this many px


def lanczos_shrink(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C, H / factor, W / factor) as PIL's LANCZOS resize
    draws it (Lanczos-3 stretched by the factor, taps past the edge left out and the rest
    renormalised, clipped between the horizontal and the vertical pass): within one gray
    level of PIL on uint8 faces. H and W must be multiples of ``factor``."""
    f = factor
    t = (torch.arange(-3 * f + 2, 3 * f + 2, dtype=torch.float64) - (f - 1) / 2) / f
    k = torch.where(
        t.abs() < 1e-9,
        torch.ones_like(t),
        3
        * torch.sin(math.pi * t)
        * torch.sin(math.pi * t / 3)
        / (math.pi * t).pow(2).clamp_min(1e-18),
    )
    k = (k / k.sum()).to(x.dtype).to(x.device)
    pad = 3 * f - 2

    def one_way(y: torch.Tensor, horizontal: bool) -> torch.Tensor:
        n, c, h, w = y.shape
        kernel = k.view(1, 1, 1, -1) if horizontal else k.view(1, 1, -1, 1)
        pads = (pad, pad, 0, 0) if horizontal else (0, 0, pad, pad)
        stride = (1, f) if horizontal else (f, 1)
        num = F.conv2d(F.pad(y.reshape(n * c, 1, h, w), pads), kernel, stride=stride)
        den = F.conv2d(F.pad(torch.ones_like(y[:1, :1]), pads), kernel, stride=stride)
        return (num / den).reshape(n, c, *num.shape[-2:])

    return one_way(one_way(x, True).clamp(-1, 1), False).clamp(-1, 1)


def degrade(small: torch.Tensor, share: float, g: torch.Generator) -> torch.Tensor:
    """(N, 3, h, w) shrunk inputs -> the same with a random ``share`` of them degraded: smooth
    noise (std up to ``NOISE_STD``, smoothed by up to ``NOISE_SIGMA`` px), then a blur (up to
    ``BLUR_SIGMA`` px), each strength uniform at random; ``g`` draws every choice."""
    out = small.clone()
    for i in range(len(small)):
        pick, std, smooth, blur = torch.rand(4, generator=g).tolist()
        if pick >= share:
            continue
        noise = torch.randn(small[i : i + 1].shape, generator=g).to(small.device, small.dtype)
        if smooth * NOISE_SIGMA > 0.3:
            noise = gaussian_blur(noise, smooth * NOISE_SIGMA)
        noise = noise / noise.std().clamp_min(1e-8) * std * NOISE_STD
        x = small[i : i + 1] + noise
        if blur * BLUR_SIGMA > 0.3:
            x = gaussian_blur(x, blur * BLUR_SIGMA)
        out[i : i + 1] = x.clamp(-1, 1)
    return out


def start_from(net: UpscaleNet, name: str) -> None:
    """Copy the shipped upscaler ``name``'s weights into ``net``, in place; a guided net's
    extra inputs (the known pixels at full size) get zero weights: at step 0 it upscales
    exactly as ``name`` does."""
    from ...tasks import load

    src = load(name).model.state_dict()
    own = net.state_dict()
    with torch.no_grad():
        for k, v in src.items():
            head = k == "head.weight"  # the guided net's has more input channels
            fits = k in own and (
                own[k].shape == v.shape
                or (head and own[k].shape[0] == v.shape[0] and own[k].shape[2:] == v.shape[2:])
            )
            if not fits:
                raise UserError(f"--init {name}: does not match this upscaler ({k})")
            if head:
                own[k].zero_()
                own[k][:, : v.shape[1]] = v
            else:
                own[k].copy_(v)
    net.load_state_dict(own)


class UpscaleRecipe(Recipe):
    """One random crop per step (aligned to the factor), its shrink (``shrink``) as input."""

    family = "upscale"

    def __init__(
        self, cfg, compute: Compute, dist: Dist = SINGLE_PROCESS, *, resuming: bool = False
    ):
        super().__init__(cfg, compute, dist, resuming=resuming)
        m = self.model_cfg
        net = UpscaleNet(m)
        if m.init and not self.resuming:
            start_from(net, m.init)
        self.net = self.place(net)
        self.ema = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = adam(self.net.parameters(), m.lr, (m.beta1, m.beta2), self.device)
        self.g_crop = torch.Generator().manual_seed(dist.seed(cfg.seed + 1))
        self.g_degrade = torch.Generator().manual_seed(dist.seed(cfg.seed + 2))
        self.D = None
        if m.adv_weight or m.fm_weight:  # a critic of the output crops
            self.D = self.place(PatchGAN(3, m.ndf))
            self.opt_d = adam(self.D.parameters(), m.lr_d, (0.5, 0.999), self.device)
        self.base = None
        if m.guided:
            from ...tasks import load

            self.base = load(m.base, device=str(self.device))

    def shrink(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 3, H / factor, W / factor), by the config's ``shrink``."""
        f = self.model_cfg.factor
        return lanczos_shrink(x, f) if self.model_cfg.shrink == "lanczos" else F.avg_pool2d(x, f)

    def guided_inputs(self, real: torch.Tensor, step: int):
        """(shrunk images with the base model's fill (N, 3, S/f, S/f), holes (N, 1, S, S))."""
        m = self.model_cfg
        n, _, h, w = real.shape
        masks = training_masks(
            n, h, w, parse_mask_mix(m.masks), self.cfg.seed, step, self.dist.rank * n
        )
        hole = torch.from_numpy(masks).to(self.device).unsqueeze(1).float()
        small = self.shrink(real.float())
        small_hole = F.max_pool2d(hole, m.factor)  # missing if any part is (as at inference)
        s = self.base.size
        if small.shape[-1] != s:
            raise ValueError(f"guided upscaler: {m.base} works at {s} px, not {small.shape[-1]}")
        fill = self.base.predict(small, small_hole).to(self.device)
        return fill * small_hole + small * (1 - small_hole), hole

    def step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        m = self.model_cfg
        cells = (real.shape[-1] - m.crop) // m.factor + 1
        y0, x0 = (torch.randint(cells, (2,), generator=self.g_crop) * m.factor).tolist()
        crop = (..., slice(y0, y0 + m.crop), slice(x0, x0 + m.crop))
        hi = real[crop]
        lo = (..., slice(y0 // m.factor, (y0 + m.crop) // m.factor))
        lo = (*lo, slice(x0 // m.factor, (x0 + m.crop) // m.factor))  # the crop, shrunk
        self.opt.zero_grad(set_to_none=True)
        if m.guided:
            small, hole = self.guided_inputs(real, step)
            hole = hole[crop]
            with self.compute.autocast():
                out = self.net(small[lo], hi, 1 - hole)
            weight = hole + 0.1 * (1 - hole)
            loss = ((out.float() - hi.float()).abs() * weight).mean() / weight.mean()
        else:
            small = self.shrink(real)[lo]  # the whole image's shrink: no edge of its own
            if m.degrade > 0:
                small = degrade(small, m.degrade, self.g_degrade)
            with self.compute.autocast():
                out = self.net(small)
            loss = F.l1_loss(out.float(), hi.float())
        logged = {"l1": loss.detach()}
        if self.D is not None:  # plus the critic's hinge and feature-matching terms
            loss_d, adv, fm = self.critic_step(self.D, self.opt_d, hi, out)
            loss = loss + m.adv_weight * adv + m.fm_weight * fm
            logged.update(loss_d=loss_d.detach(), adv=adv.detach(), fm=fm.detach())
        self.scaler.scale(loss).backward()
        if self.D is not None:
            self.D.requires_grad_(True)
        self.dist.sync_grads(self.net.parameters())
        self.scaler.step(self.opt)
        self.scaler.update()
        self.update_ema(self.ema, self.net, step)
        return logged

    @torch.no_grad()
    def samples(self, n: int) -> torch.Tensor:
        """Rows of (input shown at full size, upscaled, original) for the fixed preview images."""
        real = self.preview_images().float()
        net = self.inference_copy(self.ema)
        if self.model_cfg.guided:  # the holes of step 0's masks
            small, hole = self.guided_inputs(real, 0)
            out = net(small, real, 1 - hole).clamp(-1, 1)
            out = out * hole + real * (1 - hole)
            shown = real * (1 - hole)
        else:
            small = self.shrink(real)
            out = net(small).clamp(-1, 1)
            shown = F.interpolate(small, size=real.shape[-2:], mode="nearest")
        return torch.stack([shown, out, real], dim=1).flatten(0, 1)[:n]

    def modules(self) -> dict[str, nn.Module]:
        critic = {"disc": self.D} if self.D is not None else {}
        return {"model": self.net, "ema": self.ema, **critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt": self.opt, **({"d": self.opt_d} if self.D is not None else {})}

    def random_streams(self) -> dict[str, torch.Generator]:
        if self.model_cfg.degrade > 0:  # runs from before degrading have no such stream
            return {"crop": self.g_crop, "degrade": self.g_degrade}
        return {"crop": self.g_crop}
