"""The right model without thinking: each image goes to the face model or the photo model.

How the choice is made: the shipped face VAE (faces-vae-64) has learned the built-in faces
and nothing else, so it reconstructs such a face closely and anything else badly. An image
(letterboxed to 64 px, holes pre-filled, compared on gray levels over its known pixels
only, so a colour and a gray input score alike) whose reconstruction error is at most
``FACE_MAX_ERROR`` gray levels goes to the face model, every other image to the photo model
(the shipped ``photos-<family>``, or for inpainting the network-free ``pull-push`` while
none is shipped). Measured on held-out material, with or without box/stroke holes and in
gray: built-in faces 6-16 gray levels, scikit-image's photos 51-78, crops of the training
photos 29-86.

``auto(family)`` is what the CLI's and the demo's default ``--model auto`` loads; a user can
always name a model instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import UserError
from ..families import family as get_family
from ..images import uint8_to_tensor
from .letterbox import letterbox, mask_to_model
from .restore import PULL_PUSH, Colorizer, Inpainter, Restorer

FACE_MAX_ERROR = 22.0  # mean |reconstruction - input| in gray levels, known pixels only
DETECTOR = "faces-vae-64"


class FaceDetector:
    """``is_face(rgb, missing)``: is this a face of the built-in kind? (see module doc)"""

    def __init__(self, vae):
        self.vae = vae  # a Generator of the vae family

    @torch.inference_mode()
    def error(self, rgb: np.ndarray, missing: np.ndarray | None = None) -> float:
        """Mean gray-level error of the VAE's reconstruction over the known pixels.

        rgb uint8 (H, W, 3) (a gray image repeated is fine), missing bool (H, W) or None.
        """
        from ..models.fill import pull_push

        s = self.vae.size
        x = uint8_to_tensor(letterbox(rgb, s, Image.BICUBIC)[None])
        known = torch.ones(1, 1, s, s)
        if missing is not None and missing.any():
            known = torch.from_numpy(~mask_to_model(missing, s))[None, None].float()
            x = pull_push(x, known)
        vae = self.vae.model
        mu, _ = vae.encoder(x.to(self.vae.device))
        rec = vae.decoder(mu).float().cpu()
        diff = (rec.mean(1, keepdim=True) - x.mean(1, keepdim=True)).abs() * 127.5
        return float((diff * known).sum() / known.sum().clamp_min(1.0))

    def is_face(self, rgb: np.ndarray, missing: np.ndarray | None = None) -> bool:
        return self.error(rgb, missing) <= FACE_MAX_ERROR


class Routed:
    """Mixin over a Restorer's interface: ``batch_prepared`` routes each item to ``face`` or
    ``photo`` (both of the same family) and returns the results in the input order."""

    def __init__(self, face: Restorer, photo: Restorer, detector: FaceDetector):
        self.face, self.photo, self.detector = face, photo, detector
        self.family = face.family
        self.name = f"auto ({Path(face.name).stem} or {Path(photo.name).stem})"
        self.model, self.config, self.card = None, None, {}
        self.compute, self.device, self.size = face.compute, face.device, face.size

    @property
    def batch_size(self) -> int:
        return self.face.batch_size

    @batch_size.setter
    def batch_size(self, n: int) -> None:
        self.face.batch_size = self.photo.batch_size = n

    @property
    def native(self) -> bool:
        return False

    def pick(self, item) -> Restorer:
        """The model for one prepared item: (rgb, missing) or a gray (H, W) array."""
        if isinstance(item, tuple):
            return self.face if self.detector.is_face(*item) else self.photo
        gray = np.repeat(item[..., None], 3, axis=2)
        return self.face if self.detector.is_face(gray) else self.photo

    def batch_prepared(self, prepared: list) -> list[Image.Image]:
        chosen = [self.pick(item) for item in prepared]
        results: list[Image.Image | None] = [None] * len(prepared)
        for task in (self.face, self.photo):
            idx = [i for i, t in enumerate(chosen) if t is task]
            if idx:
                for i, out in zip(idx, task.batch_prepared([prepared[i] for i in idx])):
                    results[i] = out
        return results


class AutoInpainter(Routed, Inpainter):
    """An Inpainter that sends built-in-style faces to the face model, the rest to photos."""


class AutoColorizer(Routed, Colorizer):
    """A Colorizer that sends built-in-style faces to the face model, the rest to photos."""


# What photos get while a family has no trained photo model shipped.
PHOTO_FALLBACK = {"inpaint": PULL_PUSH}


def photo_model(family: str) -> str | None:
    """The photo model ``auto`` uses for ``family``: the shipped one, else the fallback."""
    from .shipped import list_models

    name = get_family(family).shipped_photo
    if name and name in {m["name"] for m in list_models()}:
        return name
    return PHOTO_FALLBACK.get(family)


def auto(family: str, device: str = "cpu", precision: str = "auto") -> Restorer:
    """The ``--model auto`` task of ``family`` ("inpaint" or "colorize").

    With only one of the two models present, that one is used for everything.
    """
    from . import load
    from .shipped import list_models

    fam = get_family(family)
    if not fam.shipped_photo:
        raise UserError(f"--model auto is for inpaint and colorize, not {family}")
    have = {m["name"] for m in list_models()}
    names = [n for n in (fam.shipped if fam.shipped in have else None, photo_model(family)) if n]
    if not names:
        raise UserError(f"no shipped {family} model found; pass --model NAME or a path")
    if len(names) == 1 or DETECTOR not in have:  # nothing to choose between
        return load(names[0], device, precision)
    face, photo = (load(n, device, precision) for n in names)
    return routed(face, photo, FaceDetector(load(DETECTOR, device, precision)))


def routed(face: Restorer, photo: Restorer, detector: FaceDetector) -> Restorer:
    """The auto task over a face model and a photo model of one family."""
    cls = AutoInpainter if isinstance(face, Inpainter) else AutoColorizer
    return cls(face, photo, detector)
