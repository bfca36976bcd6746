"""Task objects over checkpoints: ``load(name or path)`` -> Generator, Inpainter or Colorizer.

The CLI and the demo call these same objects, so there is one path from a checkpoint to a
result and no second copy of preprocessing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import Checkpoint, load_checkpoint
from .compute import Compute, choose
from .config import model_config_from_dict
from .data.masks import KEEP_REGIONS, keep_mask
from .errors import UserError
from .images import tensor_to_pil
from .models import build_inference_model

CHECKPOINT_DIR_ENV = "GENRESTORE_CHECKPOINTS"
log = logging.getLogger("genrestore")


def checkpoint_dirs() -> list[Path]:
    """Where shipped models are looked up: $GENRESTORE_CHECKPOINTS, then the repo's checkpoints/."""
    dirs = []
    if os.environ.get(CHECKPOINT_DIR_ENV):
        dirs.append(Path(os.environ[CHECKPOINT_DIR_ENV]))
    dirs.append(Path(__file__).resolve().parent.parent / "checkpoints")
    return dirs


def list_models() -> list[dict]:
    """Shipped models: ``[{"name", "path", "card"}]``, the card read from NAME.json."""
    seen, out = set(), []
    for d in checkpoint_dirs():
        for p in sorted(d.glob("*.safetensors")):
            if p.stem in seen:
                continue
            seen.add(p.stem)
            out.append({"name": p.stem, "path": str(p), "card": _read_card(p.with_suffix(".json"))})
    return out


def _read_card(path: Path) -> dict:
    """A model card, or {} (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable model card (%s); listing the model without it", path, exc)
        return {}
    if not isinstance(card, dict):
        log.warning("%s: model card is not a JSON object; listing the model without it", path)
        return {}
    return card


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name (e.g. "faces-gan-64"), a .safetensors path, or a run directory."""
    p = Path(name_or_path)
    # A folder named like a model (e.g. `generate --out faces-gan-64`) must not shadow it.
    is_run = p.is_dir() and (p / "checkpoint.safetensors").exists()
    if p.suffix == ".safetensors" or p.is_file() or is_run or os.sep in str(name_or_path):
        return p
    for d in checkpoint_dirs():
        cand = d / f"{name_or_path}.safetensors"
        if cand.exists():
            return cand
    known = ", ".join(m["name"] for m in list_models()) or "none found"
    raise UserError(f"unknown model {str(name_or_path)!r}; shipped models: {known}")


def _build(ck: Checkpoint, device: torch.device) -> torch.nn.Module:
    try:
        cfg = model_config_from_dict(ck.family, ck.config)
        model = build_inference_model(ck.family, cfg)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{ck.path}: checkpoint config is invalid ({exc})") from None
    weights = {k: v.float() if v.is_floating_point() else v for k, v in ck.group("model").items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][1:2] or [str(exc)]
        raise UserError(
            f"{ck.path}: weights do not match the model its config describes ({first[0][:200]})"
        ) from None
    return model.to(device).eval()


def _finite(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] with NaN/inf replaced: a broken model never yields NaN pixels."""
    return torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0).clamp(-1, 1)


def latents(n: int, nz: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """(n, nz) standard-normal latents; row i depends only on (seed, i)."""
    if seed < 0:  # numpy's seed sequence refuses negative entries with a bare ValueError
        raise UserError(f"seed must be 0 or more, got {seed}")
    z = np.stack([np.random.default_rng([seed, i]).standard_normal(nz) for i in range(n)])
    return torch.from_numpy(z).float() * float(truncation)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (nz,) at times t (T,) -> (T, nz)."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


class _Task:
    """What every task object holds: its network (eval mode), family, config, card and the
    compute settings it runs with (precision and layout chosen per machine, see compute.py)."""

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
        self.device = next(model.parameters()).device
        self.compute = compute or choose(self.device, "auto", "inference")
        self.size = config.size

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint, compute: Compute):
        model = _build(ck, compute.device)
        config = model_config_from_dict(ck.family, ck.config)
        return cls(model, ck.family, config, ck.card, ck.path, compute)


class Generator(_Task):
    """Samples faces from a learned distribution (a GAN generator or a VAE decoder).

    ``generate(n, seed)`` -> list of PIL images; face i of a seed is always the same face.
    """

    def __init__(self, model: torch.nn.Module, family: str, config, card: dict, name: str = "",
                 compute: Compute | None = None):  # fmt: skip
        super().__init__(model, family, config, card, name, compute)
        self.nz = config.nz
        # Inference copy of the decoder: BN folded into the convolutions, in the layout and
        # precision measured fastest on this machine.
        from .models import fold_batchnorm

        decoder = model if family == "gan" else model.decoder
        self.fast = self.compute.layout(fold_batchnorm(decoder))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (N, nz) -> images (N, 3, S, S), float32, differentiable w.r.t. z."""
        with self.compute.autocast():
            return self.fast(z.to(self.device)).float()

    @torch.inference_mode()
    def sample(self, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Latents (N, nz) -> images (N, 3, size, size) in [-1, 1]."""
        outs = [self.forward(z[i : i + batch]) for i in range(0, z.shape[0], batch)]
        return _finite(torch.cat(outs))

    def generate(
        self, n: int = 16, seed: int = 0, truncation: float | None = None
    ) -> list[Image.Image]:
        """``n`` faces for ``seed``; ``truncation`` in (0, 1] trades variety for quality."""
        if not 1 <= n <= 10_000:
            raise UserError(f"number of faces must be between 1 and 10000, got {n}")
        t = self.config_truncation() if truncation is None else truncation
        if not 0 < t <= 2:
            raise UserError(f"truncation must be in (0, 2], got {t}")
        return tensor_to_pil(self.sample(latents(n, self.nz, seed, t)))

    def config_truncation(self) -> float:
        return float(getattr(self.config, "truncation", 1.0))

    def complete(self, image, mask=None, samples: int = 4, seed: int = 0) -> list[Image.Image]:
        """Whole faces that agree with the visible pixels of ``image``, best fit first.

        ``mask``: white = missing (same size as the image), a region name from
        ``KEEP_REGIONS`` (e.g. "left-eye"), or None to use the image's transparency.
        """
        return Completer(self)(image, mask, samples=samples, seed=seed)

    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8) -> list[Image.Image]:
        """``steps`` faces along the great circle from seed_a's first face to seed_b's."""
        if not 2 <= steps <= 256:
            raise UserError(f"interpolation steps must be between 2 and 256, got {steps}")
        a = latents(1, self.nz, seed_a)[0]
        b = latents(1, self.nz, seed_b)[0]
        z = _slerp(a, b, torch.linspace(0, 1, steps))
        return tensor_to_pil(self.sample(z))


# --- completion from a small visible region -----------------------------------------------------


def open_image_and_mask(
    image, mask=None, *, regions: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Validate an image and its mask -> (rgb uint8 (H, W, 3), missing bool (H, W)).

    ``mask``: a mask image or bool array (white / True = missing, the image's size), None
    to use the image's transparency, or (with ``regions``) a ``KEEP_REGIONS`` name. A mask
    that hides every pixel is refused: nothing would be left to restore from.
    """
    from .images import open_image_with_alpha, open_mask, source_name

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


class Completer:
    """Draws whole faces around a small visible region by searching the generator's latents.

    Batched restarts of Adam on z minimise the reconstruction error on the known pixels plus
    a Gaussian prior on z; the best-fitting restarts are returned, each composited so the
    known pixels are kept exactly. Seeded and reproducible.
    """

    def __init__(
        self,
        gen: Generator,
        *,
        steps: int = 40,
        restarts_per_sample: int = 4,
        lr: float = 0.1,
        prior_weight: float = 0.05,
    ):
        self.gen, self.steps, self.rps, self.lr, self.prior_weight = (
            gen,
            steps,
            restarts_per_sample,
            lr,
            prior_weight,
        )

    def fit(self, x: torch.Tensor, known: torch.Tensor, restarts: int, seed: int):
        """Search latents. x (3, S, S) in [-1, 1], known (1, S, S) -> (images (R, 3, S, S), loss (R,))."""
        net = self.gen.forward  # BN folded, the machine's precision and layout
        z = latents(restarts, self.gen.nz, seed).to(self.gen.device).requires_grad_(True)
        x = x[None].to(self.gen.device)
        known = known[None].to(self.gen.device)
        denom = known.sum().clamp_min(1.0) * 3
        opt = torch.optim.Adam([z], lr=self.lr)
        for _ in range(self.steps):
            opt.zero_grad(set_to_none=True)
            pred = net(z)
            diff = (pred - x) * known
            rec = diff.pow(2).flatten(1).sum(1) / denom + diff.abs().flatten(1).sum(1) / denom
            prior = z.pow(2).mean(1)
            (rec + self.prior_weight * prior).sum().backward()
            opt.step()
        with torch.no_grad():
            pred = _finite(net(z))
            diff = (pred - x) * known
            loss = diff.pow(2).flatten(1).sum(1) / denom
        return pred.cpu(), loss.cpu()

    def __call__(self, image, mask=None, *, samples: int = 4, seed: int = 0) -> list[Image.Image]:
        if not 1 <= samples <= 64:
            raise UserError(f"samples must be between 1 and 64, got {samples}")
        arr, missing = open_image_and_mask(image, mask, regions=True)
        return self.complete_prepared(arr, missing, samples, seed)[0]

    def complete_prepared(
        self, arr: np.ndarray, missing: np.ndarray, samples: int, seed: int
    ) -> tuple[list[Image.Image], torch.Tensor]:
        """uint8 (H, W, 3) + bool (H, W) -> (completions best first, their fit MSE on known pixels)."""
        from .images import uint8_to_tensor

        s = self.gen.size
        x = uint8_to_tensor(_letterbox(arr, s, Image.BICUBIC)[None])[0]
        known = torch.from_numpy(~_mask_to_model(missing, s))[None].float()
        # A region outside the letterbox is padding, not a known pixel.
        h, w = missing.shape
        x0, y0, w2, h2 = _letterbox_box(w, h, s)
        inside = torch.zeros_like(known)
        inside[:, y0 : y0 + h2, x0 : x0 + w2] = 1
        known = known * inside
        pred, loss = self.fit(x, known, samples * self.rps, seed)
        order = torch.argsort(loss)[:samples]
        out = []
        for i in order.tolist():
            up = _from_model(pred[i], w, h)
            filled = (
                ((up.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
            )
            out.append(Image.fromarray(np.where(missing[..., None], filled, arr)))
        return out, loss[order]


# --- restoration at any size ------------------------------------------------------------------


def _letterbox_box(w: int, h: int, size: int) -> tuple[int, int, int, int]:
    """Where a w x h image lands inside a size x size square: (x0, y0, w', h')."""
    scale = size / max(w, h)
    w2, h2 = max(1, round(w * scale)), max(1, round(h * scale))
    return (size - w2) // 2, (size - h2) // 2, w2, h2


def _letterbox(arr: np.ndarray, size: int, resample: int) -> np.ndarray:
    """uint8 (H, W[, C]) -> (size, size[, C]): aspect kept, edges replicated into the pad."""
    h, w = arr.shape[:2]
    x0, y0, w2, h2 = _letterbox_box(w, h, size)
    small = np.asarray(Image.fromarray(arr).resize((w2, h2), resample))
    pad = [(y0, size - h2 - y0), (x0, size - w2 - x0)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(small, pad, mode="edge")


def _mask_to_model(missing: np.ndarray, size: int) -> np.ndarray:
    """bool (H, W) -> bool (size, size): a model pixel is missing if any part of it is."""
    h, w = missing.shape
    x0, y0, w2, h2 = _letterbox_box(w, h, size)
    frac = Image.fromarray(missing.astype(np.float32)).resize((w2, h2), Image.BOX)
    out = np.zeros((size, size), dtype=bool)
    out[y0 : y0 + h2, x0 : x0 + w2] = np.asarray(frac) > 1e-3
    return out


def _from_model(t: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """(C, S, S) model output -> (C, h, w): crop the letterbox and resize to the input size."""
    size = t.shape[-1]
    x0, y0, w2, h2 = _letterbox_box(w, h, size)
    crop = t[None, :, y0 : y0 + h2, x0 : x0 + w2].float()
    down = h < h2 or w < w2
    return torch.nn.functional.interpolate(
        crop,
        size=(h, w),
        mode="bilinear" if down else "bicubic",
        align_corners=False,
        antialias=down,
    )[0]


class _Restorer(_Task):
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
        return _finite(torch.cat(outs))


class Inpainter(_Restorer):
    """Fills missing regions: ``inpainter(image, mask)`` -> PIL image of the input's size.

    ``mask``: white (> 127) = missing, same size as the image; without a mask, the image's
    transparent pixels (alpha < 128) are the missing ones. Known pixels come back exactly.
    """

    takes_mask = True  # the batch machinery passes each file's mask to prepare()

    def prepare(self, image, mask=None) -> tuple[np.ndarray, np.ndarray]:
        """Validate -> (rgb uint8 (H, W, 3), missing bool (H, W))."""
        return open_image_and_mask(image, mask)

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
        from .images import uint8_to_tensor

        if not prepared:
            return []
        s = self.size
        x = uint8_to_tensor(np.stack([_letterbox(rgb, s, Image.BICUBIC) for rgb, _ in prepared]))
        m = torch.from_numpy(np.stack([_mask_to_model(miss, s) for _, miss in prepared]))
        pred = self._run(x, m[:, None].float())
        results = []
        for (rgb, missing), p in zip(prepared, pred):
            h, w = missing.shape
            if not missing.any():
                results.append(Image.fromarray(rgb))
                continue
            up = _from_model(p, w, h)
            filled = (
                ((up.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
            )
            out = np.where(missing[..., None], filled, rgb)
            results.append(Image.fromarray(out))
        return results


class Colorizer(_Restorer):
    """Colors a grayscale image: ``colorizer(gray)`` -> RGB PIL image of the input's size.

    A color input is converted to gray first. The result keeps the input's luminance:
    the network predicts a/b (Lab) at its own size, they are upsampled and recombined with
    the full-resolution L of the input.
    """

    def prepare(self, image) -> np.ndarray:
        """Validate -> gray uint8 (H, W)."""
        from .images import open_image

        return np.asarray(open_image(image).convert("L"), dtype=np.uint8)

    def __call__(self, image) -> Image.Image:
        return self.batch([image])[0]

    def batch(self, images: list) -> list[Image.Image]:
        return self.batch_prepared([self.prepare(im) for im in images])

    def batch_prepared(self, grays: list[np.ndarray]) -> list[Image.Image]:
        from .color import lab_scaled_to_rgb, rgb_to_lab_scaled
        from .images import uint8_to_tensor

        if not grays:
            return []
        s = self.size
        small = np.stack([_letterbox(g, s, Image.BICUBIC) for g in grays])
        lum_small, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(small[..., None], 3, axis=3)))
        ab = self._run(lum_small)
        results = []
        for g, ab_i in zip(grays, ab):
            h, w = g.shape
            lum, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(g[None, ..., None], 3, axis=3)))
            rgb = lab_scaled_to_rgb(lum, _from_model(ab_i, w, h)[None], keep_luminance=True)
            results.append(Image.fromarray(_to_uint8(rgb[0])))
        return results


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> uint8 (H, W, 3), NaN-safe."""
    x = torch.nan_to_num(x.float(), nan=0.0).clamp(-1, 1)
    return ((x + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


TASKS = {"gan": Generator, "vae": Generator, "inpaint": Inpainter, "colorize": Colorizer}


def load(name_or_path: str | os.PathLike, device: str = "cpu", precision: str = "auto"):
    """Load a shipped model by name, a checkpoint by path, or a training run directory.

    Returns the matching task object: Generator (gan, vae), Inpainter or Colorizer.
    ``precision``: "auto" (the fastest measured on this machine; ``$GENRESTORE_PRECISION``
    overrides it), "fp32" or "bf16" (and "fp16" on CUDA).
    """
    path = resolve_model_path(name_or_path)
    if path.is_dir():
        from .training import CHECKPOINT, inference_checkpoint

        if not (path / CHECKPOINT).exists():
            raise UserError(f"{path}: is a folder without a training run ({CHECKPOINT}) in it")
        ck = inference_checkpoint(path)  # a run directory: its EMA weights
    else:
        ck = load_checkpoint(path)
    compute = choose(device, precision, "inference")
    if ck.family not in TASKS:
        raise UserError(f"{path}: model family {ck.family!r} has no task in this version")
    return TASKS[ck.family].from_checkpoint(ck, compute)
