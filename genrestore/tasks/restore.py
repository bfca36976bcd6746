"""Restoration at any input size: inpainting and colorization.

A model of fixed size (the 64-px face models) sees a letterboxed copy of the image and its
answer is resized back. A ``native`` model (the photo models) is fully convolutional and
works at the image's own size. An inpainter fills the hole coarse to fine, on a pyramid
that halves the image until its long side is at most ``config.coarse``: at every level the
network corrects a guess, that level's smooth ``pull_push`` fill plus the correction it
made one level down (upsampled), and above the coarsest level only a window of
``config.context`` px around the hole is computed (0: the whole image); with
``config.texture``, the photo's fine grain is then copied into the fill (tasks/texture.py).
A colorizer predicts a/b at most ``config.max_side`` on the long side
and keeps the input's full-resolution L. Either way the known pixels (inpainting) or the
luminance (colorization) come back exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..color import guided_upsample, lab_scaled_to_rgb, rgb_to_lab_scaled
from ..errors import UserError
from ..images import open_image, tensor_to_uint8, uint8_to_tensor
from ..models.fill import pull_push
from ..models.unet import SmoothFill
from .base import Task, composite, finite, open_image_and_mask
from .letterbox import from_model, letterbox, letterbox_box, mask_to_model
from .texture import add_texture


class Restorer(Task):
    """Shared by the restoration tasks: a network at its own size, any input size outside."""

    batch_size = 64

    @torch.inference_mode()
    def _run(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Run the network over (N, ...) inputs in chunks; returns a finite float tensor."""
        outs = []
        for i in range(0, inputs[0].shape[0], self.batch_size):
            chunk = [
                self.compute.layout(x[i : i + self.batch_size].to(self.device)) for x in inputs
            ]
            with self.compute.autocast():
                outs.append(self.model(*chunk).float().cpu())
        return finite(torch.cat(outs))

    @property
    def mirrored(self) -> bool:
        """Answers are averaged with the mirror image's: a fixed-size model trained on
        horizontally flipped images too (its card's ``data.hflip``, as the face models are),
        for which an image and its mirror are equally likely questions."""
        data = self.card.get("train_config", {}).get("data", {})
        return not self.native and bool(data.get("hflip", False))

    def _answer(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``_run``, or with ``mirrored`` the mean of the answer and the answer to the
        mirrored inputs (N, C, H, W) mirrored back."""
        if not self.mirrored:
            return self._run(*inputs)
        n = inputs[0].shape[0]
        both = self._run(*(torch.cat([x, x.flip(-1)]) for x in inputs))
        return (both[:n] + both[n:].flip(-1)) / 2

    @property
    def native(self) -> bool:
        """Works at each image's own size (fully convolutional), not at ``size``."""
        return bool(getattr(self.config, "native", False))

    @torch.inference_mode()
    def _run_native(self, *inputs: torch.Tensor | None) -> torch.Tensor:
        """The network on one (1, ...) set of inputs of any size (None passes through)."""
        moved = [None if x is None else self.compute.layout(x.to(self.device)) for x in inputs]
        with self.compute.autocast():
            out = self.model(*moved)
        return finite(out.float().cpu())


MAX_NATIVE_PIXELS = 4_000_000  # larger photos are filled at the largest level below this


def hole_window(missing: torch.Tensor, margin: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the bounding box of ``missing`` (H, W) grown by ``margin``, clipped.

    Above the coarsest level the network only refines a guess that already carries the
    coarser levels' answer, so it runs on this window instead of the whole image (for a box
    of 25 % of each side, about a quarter of the pixels).
    """
    rows = torch.nonzero(missing.any(1)).flatten()
    cols = torch.nonzero(missing.any(0)).flatten()
    h, w = missing.shape
    return (
        max(0, int(rows[0]) - margin),
        min(h, int(rows[-1]) + 1 + margin),
        max(0, int(cols[0]) - margin),
        min(w, int(cols[-1]) + 1 + margin),
    )


def pyramid_sizes(h: int, w: int, coarse: int) -> list[tuple[int, int]]:
    """(H, W) halved (rounding up) until the long side is at most ``coarse``; coarsest first."""
    sizes = [(h, w)]
    while max(sizes[-1]) > coarse:
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
    return sizes[::-1]


class Inpainter(Restorer):
    """Fills missing regions: ``inpainter(image, mask)`` -> PIL image of the input's size.

    ``mask``: white (> 127) = missing, same size as the image; without a mask, the image's
    transparent pixels (alpha < 128) are the missing ones. Known pixels come back exactly.
    """

    takes_mask = True  # the batch machinery passes each file's mask to prepare()
    # A face model's fill (upscaled to the image) minus the image on the known pixels, spread
    # into the hole and faded over this many pixels (``blend_seams``). On 64 validation faces
    # at 256 px: boxes +0.14 dB, strokes +0.33 dB over none; reach 4 / 16 / 32 within 0.05.
    # At the model's own size it is within 0.05 dB, so it is not applied there.
    SEAM_REACH = 8.0

    def prepare(self, image, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Validate -> (rgb uint8 (H, W, 3), missing bool (H, W))."""
        return open_image_and_mask(image, mask)

    def predict(self, x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """A fixed-size model's answer: x (N, 3, S, S) in [-1, 1], missing (N, 1, S, S) in
        {0, 1} -> (N, 3, S, S), the whole image (the caller keeps the known pixels).

        ``mirrored``: the mean with the mirrored image's answer. An adversarially trained
        fill commits to one of several plausible details; the mean of two keeps what they
        agree on (64 validation faces at 256 px, through the refiner: boxes +0.30 dB /
        +0.001 SSIM, strokes +0.30 dB / +0.0009, detail unchanged).
        """
        return self._answer(x, missing)

    def __call__(self, image, mask=None) -> Image.Image:
        return self.batch([image], [mask])[0]

    def batch(self, images: list, masks: list) -> list[Image.Image]:
        """Inpaint several images (any sizes) in batched forward passes."""
        if len(images) != len(masks):
            raise UserError("give one mask (or None) per image")
        prepared = [self.prepare(im, m) for im, m in zip(images, masks)]
        return self.batch_prepared(prepared)

    def batch_prepared(self, prepared: list[tuple[np.ndarray, np.ndarray]]) -> list[Image.Image]:
        """Like ``batch`` for already validated (rgb, missing) pairs."""
        if not prepared:
            return []
        if self.native:
            return [
                composite(self._fill_native(rgb, missing), rgb, missing)
                if missing.any()
                else Image.fromarray(rgb)
                for rgb, missing in prepared
            ]
        s = self.size
        x = uint8_to_tensor(np.stack([letterbox(rgb, s, Image.BICUBIC) for rgb, _ in prepared]))
        m = torch.from_numpy(np.stack([mask_to_model(miss, s) for _, miss in prepared]))
        m = m[:, None].float()
        pred = self.predict(x, m)
        results = []
        for (rgb, missing), p, x_i, m_i in zip(prepared, pred, x, m):
            h, w = missing.shape
            if not missing.any():
                results.append(Image.fromarray(rgb))
                continue
            fill = from_model(self._drawn_large(p, x_i, m_i, rgb, missing), w, h)[None]
            if self.SEAM_REACH > 0 and max(h, w) > s:  # resized: its mismatch to the known
                # pixels faded into the hole (at the model's own size it changes nothing)
                from .complete import blend_seams

                known = torch.from_numpy(~missing)[None].float()
                fill = blend_seams(fill, uint8_to_tensor(rgb[None])[0], known, self.SEAM_REACH)
            results.append(composite(fill[0], rgb, missing))
        return results

    @functools.cached_property
    def refiner(self):
        """The shipped guided upscaler trained on this model's answers (an Upscaler), or None."""
        from .upscale import companion_refiner

        return companion_refiner(self)

    def _drawn_large(self, p, x, m, rgb: np.ndarray, missing: np.ndarray) -> torch.Tensor:
        """The answer p (3, S, S) (to x (3, S, S), hole m (1, S, S)) drawn for an image of
        ``missing.shape``: where the image is at least twice S, by the guided refiner around
        the image's own known pixels, else by the upscaler (``Task.larger``); else as it is."""
        side = max(missing.shape)
        ref = self.refiner
        if ref is None or side < 2 * self.size:
            return self.larger(p[None], side)[0]
        big = ref.size
        image = uint8_to_tensor(letterbox(rgb, big, Image.BICUBIC)[None])
        known = torch.from_numpy(~mask_to_model(missing, big))[None, None].float()
        return ref.refine((p * m + x * (1 - m))[None], image, known)[0]

    def _fill_native(self, rgb: np.ndarray, missing: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3), bool (H, W) -> (3, H, W) in [-1, 1]: coarse-to-fine fill.

        Each level's guess is its own ``pull_push`` fill plus the correction the network
        made one level down (upsampled); above the coarsest level only a window of
        ``config.context`` px around the hole is computed (0: the whole image). A
        ``SmoothFill`` (no network) corrects nothing, so only the top level is computed.
        Then, with ``config.texture``, the fine texture of the known pixels is added.
        """
        image = uint8_to_tensor(rgb[None])
        mask = torch.from_numpy(missing)[None, None].float()
        answer = correction = None
        sizes = pyramid_sizes(*missing.shape, self.config.coarse)
        levels = [hw for hw in sizes if hw[0] * hw[1] <= MAX_NATIVE_PIXELS] or sizes[:1]
        if isinstance(self.model, SmoothFill):  # no correction to carry up: the top level only
            levels = levels[-1:]
        for h, w in levels:
            if (h, w) == missing.shape:
                x, m = image, mask
            else:  # a level's pixel is missing if any part of it is (as in training)
                x = F.interpolate(image, size=(h, w), mode="area")
                m = (F.interpolate(mask, size=(h, w), mode="area") > 1e-3).float()
            window = (..., slice(None), slice(None))
            up = torch.zeros_like(m)
            if correction is not None:
                up = F.interpolate(correction, size=(h, w), mode="bilinear")
                if self.config.context > 0:  # the window holds every missing pixel
                    y0, y1, x0, x1 = hole_window(m[0, 0], self.config.context)
                    window = (..., slice(y0, y1), slice(x0, x1))
            xw, mw = x[window], m[window]
            smooth = pull_push(xw, 1 - mw, smooth=True)
            pred = self._run_native(xw, mw, smooth + up[window] * mw)
            answer, correction = x.clone(), torch.zeros_like(x)
            answer[window] = pred * mw + xw * (1 - mw)
            correction[window] = (pred - smooth) * mw
        if answer.shape[-2:] != missing.shape:  # above MAX_NATIVE_PIXELS: the fill upsampled
            answer = F.interpolate(answer, size=missing.shape, mode="bicubic")
        if self.config.texture > 0:  # the photo's fine grain, copied into the smooth fill
            answer = add_texture(image, 1 - mask, answer, match=self.config.texture)
        return answer[0]


PULL_PUSH = "pull-push"  # the network-free photo inpainter's name for load() and --model


def pull_push_inpainter(compute=None) -> Inpainter:
    """The classical coarse-to-fine pull-push inpainter (no weights, any size).

    The same pipeline as a native photo model whose correction is zero: what the photo
    inpainting model starts from, and what ``--model auto`` uses for photos while no
    trained photo inpainter is shipped.
    """
    from ..families.inpaint import PHOTO_TEXTURE, InpaintConfig

    card = {
        "name": PULL_PUSH,
        "family": "inpaint",
        "data": "none: a classical method (pull-push, Gortler et al. 1996), coarse to fine",
    }
    cfg = InpaintConfig(size=128, native=True, context=0, texture=PHOTO_TEXTURE)
    return Inpainter(SmoothFill(), "inpaint", cfg, card, PULL_PUSH, compute)


class Colorizer(Restorer):
    """Colors a grayscale image: ``colorizer(gray)`` -> RGB PIL image of the input's size.

    A color input is converted to gray first. The result keeps the input's luminance:
    the network predicts a/b (Lab) at its own size, they are upsampled along the edges of
    the input's full-resolution L (``color.guided_upsample``) and recombined with that L.
    A ``mirrored`` model's a/b are the mean with the mirrored image's (faces-colorize-64 on
    128 validation faces: +0.16 dB at 64 px, +0.11 dB at 256).
    """

    def prepare(self, image) -> np.ndarray:
        """Validate -> gray uint8 (H, W)."""
        return np.asarray(open_image(image).convert("L"), dtype=np.uint8)

    def __call__(self, image) -> Image.Image:
        return self.batch([image])[0]

    def batch(self, images: list) -> list[Image.Image]:
        return self.batch_prepared([self.prepare(im) for im in images])

    def batch_prepared(self, grays: list[np.ndarray]) -> list[Image.Image]:
        if not grays:
            return []
        if self.native:
            return [self._colorize_native(g) for g in grays]
        s = self.size
        small = np.stack([letterbox(g, s, Image.BICUBIC) for g in grays])
        lum_small, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(small[..., None], 3, axis=3)))
        ab = self._answer(lum_small) * self.config.chroma
        results = []
        for g, ab_i, lum_i in zip(grays, ab, lum_small):
            h, w = g.shape
            lum, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(g[None, ..., None], 3, axis=3)))
            x0, y0, w2, h2 = letterbox_box(w, h, s)
            if h > h2 or w > w2:  # upscaled along the photo's own L edges
                box = (slice(None), slice(y0, y0 + h2), slice(x0, x0 + w2))
                ab_full = guided_upsample(ab_i[box][None], lum_i[box][None], lum)
            else:
                ab_full = from_model(ab_i, w, h)[None]
            rgb = lab_scaled_to_rgb(lum, ab_full, keep_luminance=True)
            results.append(Image.fromarray(tensor_to_uint8(rgb)[0]))
        return results

    def _colorize_native(self, gray: np.ndarray) -> Image.Image:
        """a/b predicted at most ``config.max_side`` on the long side, upsampled, full L kept."""
        h, w = gray.shape
        lum, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(gray[None, ..., None], 3, axis=3)))
        scale = min(1.0, self.config.max_side / max(h, w))
        small = lum
        if scale < 1:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            small = F.interpolate(lum, size=size, mode="area")
        ab = self._run_native(small) * self.config.chroma
        if ab.shape[-2:] != (h, w):  # upscaled along the photo's own L edges
            ab = guided_upsample(ab, small, lum)
        rgb = lab_scaled_to_rgb(lum, ab, keep_luminance=True)
        return Image.fromarray(tensor_to_uint8(rgb)[0])
