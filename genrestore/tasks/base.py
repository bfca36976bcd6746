"""What every task shares: building its network from a checkpoint, compute settings, inputs
validated at the edge, and the one post-processing step that keeps known pixels exact."""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

from ..checkpoint import Checkpoint
from ..compute import Compute, choose
from ..data.masks import KEEP_REGIONS, keep_mask
from ..errors import UserError
from ..families import family as get_family
from ..images import tensor_to_uint8


def finite(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] with NaN/inf replaced: a broken model never yields NaN pixels."""
    return torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).clamp(-1, 1)


def composite(pred: torch.Tensor, rgb: np.ndarray, missing: np.ndarray) -> Image.Image:
    """Prediction (3, H, W) in [-1, 1] pasted into the holes of uint8 ``rgb`` (H, W, 3).

    ``missing`` (H, W) bool: True where ``pred`` is used; every other pixel is ``rgb``'s own.
    """
    filled = tensor_to_uint8(pred[None])[0]
    return Image.fromarray(np.where(missing[..., None], filled, rgb))


def open_image_and_mask(
    image, mask=None, *, regions: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an image and its mask -> (rgb uint8 (H, W, 3), missing bool (H, W)).

    ``mask``: a mask image or bool array (white / True = missing, the image's size), None
    to use the image's transparency, or (with ``regions``) a ``KEEP_REGIONS`` name. A mask
    that hides every pixel is refused: nothing would be left to restore from.
    """
    from ..images import open_image_with_alpha, open_mask, source_name

    rgb, alpha_missing = open_image_with_alpha(image)
    if regions and isinstance(mask, str) and mask in KEEP_REGIONS:
        missing = keep_mask(mask, *rgb.size)
    elif mask is None:
        if alpha_missing is None:
            raise UserError(
                f"{source_name(image)}: no mask given and the image has no transparent pixels; "
                "pass a mask (white = missing)" + (" or a --keep region" if regions else "")
            )
        missing = alpha_missing
    else:
        missing = open_mask(mask, rgb.size)
    if missing.all():
        raise UserError(
            f"{source_name(mask if mask is not None else image)}: the mask covers the whole "
            "image, so nothing is left to restore from"
        )
    return np.asarray(rgb, dtype=np.uint8), missing


class Task:
    """A trained network ready to use: its family, config, model card and compute settings.

    Subclasses add what the user calls (``generate``, ``__call__``, ...). ``compute`` says
    which precision and memory layout it runs with (chosen per machine, see compute.py).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        family: str,
        config,
        card: dict,
        name: str = "",
        compute: Compute | None = None,
    ):
        self.model, self.family, self.config, self.card, self.name = (
            model,
            family,
            config,
            card,
            name,
        )
        weights = next(model.parameters(), None)  # a network-free method has none
        self.device = weights.device if weights is not None else torch.device("cpu")
        self.compute = compute or choose(self.device, "auto", "inference")
        self.size = config.size

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint, compute: Compute) -> Task:
        """The task for an inference checkpoint (tensors ``model.*``), on ``compute.device``."""
        fam = get_family(ck.family)
        try:
            cfg = fam.config_from_dict(ck.config)
            model = fam.build_network(cfg)
        except (TypeError, ValueError) as exc:
            raise UserError(f"{ck.path}: checkpoint config is invalid ({exc})") from None
        weights = {
            k: v.float() if v.is_floating_point() else v for k, v in ck.group("model").items()
        }
        try:
            model.load_state_dict(weights)
        except RuntimeError as exc:
            first = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][1:2] or [str(exc)]
            raise UserError(
                f"{ck.path}: weights do not match the model its config describes ({first[0][:200]})"
            ) from None
        return cls(model.to(compute.device).eval(), ck.family, cfg, ck.card, ck.path, compute)

    @functools.cached_property
    def upscaler(self):
        """The shipped upscaler that takes this model's output to larger sizes (an
        ``Upscaler``, see tasks/upscale.py), or None: then outputs are resized plainly."""
        from .upscale import companion_upscaler

        return companion_upscaler(self)

    def larger(self, x: torch.Tensor, side: int) -> torch.Tensor:
        """(N, 3, S, S) outputs at this model's size -> the upscaler's larger ones when the
        wanted ``side`` is at least twice S (and an upscaler exists), else ``x`` as it is."""
        up = self.upscaler
        if up is not None and side >= 2 * x.shape[-1] and up.size == x.shape[-1] * up.factor:
            return up.upscale(x)
        return x

    @staticmethod
    def standing_stats(model: torch.nn.Module, config) -> None:
        """Prepare freshly averaged (EMA) weights for inference, in place; most need nothing."""
