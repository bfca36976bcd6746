"""Evaluation on held-out data: what ``genrestore eval`` prints, as plain dicts."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from .errors import UserError
from .images import tensor_to_uint8, uint8_to_tensor
from .metrics import fill_detail, psnr_uint8, ssim_uint8, swd
from .tasks import latents
from .tasks.letterbox import letterbox

# What a shipped model should reach on held-out faces at 64 px (mean over the images) and,
# by default settings, at 256 px and more, where the fill must also carry detail.
INPAINT_TARGETS = {"box": {"psnr": 27.0, "ssim": 0.93}, "stroke": {"psnr": 31.0, "ssim": 0.97}}
INPAINT_TARGETS_256 = {
    "box": {"psnr": 29.0, "ssim": 0.96, "detail": 0.8},
    "stroke": {"psnr": 31.0, "ssim": 0.97, "detail": 0.8},
}
COLORIZE_TARGETS = {"psnr": 26.0, "luminance_error": 1.0}  # PSNR at least, error below

_EVAL_PACKAGES = {"skimage": "scikit-image", "cv2": "opencv-python-headless"}

# Held-out natural photos: scikit-image's sample photos (never used in training), each
# shrunk to at most PHOTO_MAX_SIDE on its long side; restored at that, their own, size.
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "stereo_motorcycle",
    "hubble_deep_field",
)
PHOTO_MAX_SIDE = 768
PHOTO_BOX_SIDE = (0.2, 0.3)  # photo boxes: 20-30 % of each side
PHOTO_MASK_KINDS = ("box", "stroke")
# What a photo model should reach: PSNR this far above OpenCV Telea, fill detail at least.
PHOTO_INPAINT_TARGETS = {"psnr_over_telea": 1.0, "detail": 0.8}
PHOTO_COLORIZE_TARGETS = {"psnr_over_gray": 1.0, "luminance_error": 1.0}


def held_out_images(n: int, size: int, data: str = "avatars", offset: int = 0) -> np.ndarray:
    """uint8 (n, size, size, 3) held-out images: built-in faces from index 1,000,000 + offset."""
    if data == "avatars":
        from .data.avatars import load_eval_faces

        return load_eval_faces(offset + n, size, progress=False)[offset : offset + n]
    from .data.folder import load_folder

    imgs = load_folder(data, size, progress=False).images
    if len(imgs) < offset + n:
        raise UserError(f"{data}: has {len(imgs)} usable images, {offset + n} are needed")
    return imgs[offset : offset + n]


def held_out_photos(data: str = "skimage") -> list[tuple[str, np.ndarray]]:
    """(name, uint8 (H, W, 3)) natural photos at their own size (long side at most 768).

    ``data``: "skimage" (scikit-image's sample photos: the test photos), "photos" (the
    built-in photo set's validation photos, held out of its training crops) or a folder.
    """
    if data == "skimage":
        _require("skimage")
        import skimage.data

        named = []
        for name in SKIMAGE_PHOTOS:
            arr = getattr(skimage.data, name)()
            named.append((name, arr[0] if isinstance(arr, tuple) else arr))  # stereo: left
    else:
        from .data.folder import scan_images
        from .data.photos import SOURCE, open_photo, photo_files
        from .images import open_image

        if data == SOURCE:
            paths, opener = photo_files(split="validation"), open_photo
        else:
            paths, opener = scan_images(data), lambda p: open_image(str(p))
        if not paths:
            raise UserError(f"{data}: no images found")
        named = [(p.name, np.asarray(opener(p).convert("RGB"))) for p in paths]
    out = []
    for name, arr in named:
        img = Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr).convert("RGB")
        scale = PHOTO_MAX_SIDE / max(img.size)
        if scale < 1:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        out.append((name, np.asarray(img, dtype=np.uint8)))
    return out


def _held_out_kind(task, data: str | None) -> tuple[str, bool]:
    """(data, on photos?): the data an evaluation uses when ``data`` is None ("skimage" for a
    native photo model, else "avatars"), and whether the images are photos at their own size
    ("skimage", "photos", or a folder for a native model) rather than faces at one size."""
    native = getattr(task, "native", False)
    data = data or ("skimage" if native else "avatars")
    return data, data in ("skimage", "photos") or (native and data != "avatars")


def photo_mask(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """The photo evaluation's masks: a box of 20-30 % of each side, or thick strokes."""
    from .data.masks import box_mask, make_mask

    return box_mask(h, w, rng, PHOTO_BOX_SIDE) if kind == "box" else make_mask(kind, h, w, rng)


def evaluate_generator(
    gen,
    n: int = 256,
    *,
    data: str = "avatars",
    seed: int = 0,
    size: int | None = None,
    draws: int = 1,
    truncation: float | None = None,
) -> dict:
    """SWD of ``n`` samples vs ``n`` held-out images, and the real-vs-real floor at that count.

    Samples are drawn as ``generate`` draws them: at ``truncation`` in (0, 2], by default the
    model's own.

    ``size``: measure at this side instead of the model's (held-out faces rendered there,
    samples taken there as ``generate(size=...)`` does: the shipped upscaler, or a resize).
    ``draws``: also measure ``draws - 1`` more independent draws (draw k: the k-th next
    ``2 n`` held-out images, latents of ``seed + k``) and report each draw's SWD, their mean
    and standard deviation: at a few hundred samples one draw's SWD varies by units.
    """
    if not 1 <= draws <= 64:
        raise UserError(f"draws must be between 1 and 64, got {draws}")
    truncation = gen.truncation(truncation)
    side = size or gen.size
    real = held_out_images(2 * n * draws, side, data)
    real_a, real_b = uint8_to_tensor(real[:n]), uint8_to_tensor(real[n : 2 * n])

    def sample(k: int) -> torch.Tensor:  # draw k's samples at the measured side
        return gen.at_size(gen.sample(latents(n, gen.nz, seed + k, truncation)), side)

    t0 = time.perf_counter()
    fake = sample(0)
    dt = time.perf_counter() - t0
    s = swd(fake, real_a, seed=seed)
    floor = swd(real_b, real_a, seed=seed)
    spread = {}
    if draws > 1:
        each = [s["mean"]] + [
            swd(sample(k), uint8_to_tensor(real[2 * n * k : 2 * n * k + n]), seed=seed)["mean"]
            for k in range(1, draws)
        ]
        spread = {
            "swd_draws": each,
            "swd_draws_mean": round(float(np.mean(each)), 2),
            "swd_draws_sd": round(float(np.std(each, ddof=1)), 2),
        }
    return {
        "model": gen.name,
        "family": gen.family,
        "n": n,
        "size": side,
        "truncation": truncation,
        "swd": s["mean"],
        "swd_levels": s["levels"],
        "swd_floor": floor["mean"],
        "swd_ratio": round(s["mean"] / floor["mean"], 2),
        "sample_seconds": round(dt, 3),
        **spread,
    }


def _require(*modules: str) -> None:
    """Raise UserError naming the optional packages (of ``_EVAL_PACKAGES``) that are missing."""
    missing = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            missing.append(_EVAL_PACKAGES[m])
    if missing:
        raise UserError(
            f"evaluating restoration needs {' and '.join(missing)}: pip install 'genrestore[eval]'"
        )


def _scores(outputs: list[np.ndarray], targets: np.ndarray, seconds: float) -> dict:
    """Mean PSNR (dB, capped) and SSIM of uint8 (H, W, 3) outputs vs targets; time per image."""
    return {
        "psnr": round(float(np.mean([psnr_uint8(o, t) for o, t in zip(outputs, targets)])), 3),
        "ssim": round(float(np.mean([ssim_uint8(o, t) for o, t in zip(outputs, targets)])), 4),
        "sec_per_image": round(seconds / len(targets), 6),
    }


def _telea(rgb: np.ndarray, missing: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.inpaint(rgb, missing.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)


def _biharmonic(rgb: np.ndarray, missing: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    out = inpaint_biharmonic(rgb, missing, channel_axis=-1)  # float, ~[0, 1]
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


# No-training inpainting baselines: uint8 (H, W, 3) image, bool (H, W) missing -> uint8 image.
INPAINT_BASELINES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "telea": _telea,
    "biharmonic": _biharmonic,
}


def _warm_up(task, rgb: np.ndarray, missing: np.ndarray) -> None:
    """One untimed call of the model and each baseline: first calls pay for imports."""
    task.batch_prepared([(rgb, missing)])
    for fill in INPAINT_BASELINES.values():
        fill(rgb, missing)


def _inpaint_methods(task, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """{method: scores} for the model (batched) and each baseline on (rgb, missing) pairs."""
    originals = [rgb for rgb, _ in pairs]

    def scored(outs: list[np.ndarray], seconds: float) -> dict:
        scores = _scores(outs, originals, seconds)
        details = [fill_detail(o, rgb, m) for o, (rgb, m) in zip(outs, pairs)]
        scores["detail"] = round(float(np.nanmean(details)), 3)
        return scores

    t0 = time.perf_counter()
    outs = [np.asarray(im) for im in task.batch_prepared(pairs)]
    methods = {"model": scored(outs, time.perf_counter() - t0)}
    for name, fill in INPAINT_BASELINES.items():
        t0 = time.perf_counter()
        outs = [np.where(m[..., None], fill(rgb, m), rgb) for rgb, m in pairs]
        methods[name] = scored(outs, time.perf_counter() - t0)
    return methods


def _mask_kinds(kinds, offered: tuple[str, ...]) -> tuple[str, ...]:
    """``kinds`` (None: all of ``offered``; or a sequence, or "box,stroke") checked."""
    if kinds is None:
        return offered
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in offered]
    if bad or not kinds:
        raise UserError(f"mask kinds must be some of {', '.join(offered)}; got {kinds}")
    return tuple(dict.fromkeys(kinds))


def evaluate_inpainter(
    task,
    n: int | None = None,
    *,
    data: str | None = None,
    seed: int = 0,
    size: int | None = None,
    kinds=None,
) -> dict:
    """PSNR/SSIM of an Inpainter on ``n`` held-out faces per mask kind, next to two baselines.

    ``data="skimage"`` (the default for a native photo model) or a native model on a folder
    is measured on photos at their own size instead (``evaluate_photo_inpainter``).

    Faces are rendered at ``size`` (default: the model's size S); masks are
    ``mask_batch(n, S, S, seed, kind)``, so every run with the same seed sees the same holes.
    ``kinds``: the mask kinds to measure (default all; e.g. "box,stroke", as the baselines
    on large holes at 256 px take minutes).
    Each method keeps the known pixels exactly, and is scored over the whole image, with
    the fill's ``detail`` (``metrics.fill_detail``). The model runs batched, the baselines
    one image at a time; ``sec_per_image`` is wall time over n either way, after one untimed
    warm-up call. Returns ``{"kinds": {kind: {method: {"psnr", "ssim", "detail",
    "sec_per_image"}}}, "coverage": {kind: mean missing fraction}, "targets": ...}``.
    """
    _require("skimage", "cv2")
    from .data.masks import MASK_KINDS, mask_batch

    data, photos = _held_out_kind(task, data)
    if photos:
        return evaluate_photo_inpainter(task, n or 12, data=data, seed=seed, kinds=kinds)
    kinds = _mask_kinds(kinds, MASK_KINDS)
    n = 256 if n is None else n
    if n < 1:
        raise UserError(f"number of images must be at least 1, got {n}")
    if seed < 0:  # numpy's seed sequence refuses negative entries with a bare ValueError
        raise UserError(f"seed must be 0 or more, got {seed}")
    s = size or task.size
    faces = np.array(held_out_images(n, s, data))  # a writable copy, not the cache's memmap
    scores, cover = {}, {}
    _warm_up(task, faces[0], mask_batch(1, s, s, seed, "box")[0])
    for kind in kinds:
        masks = mask_batch(n, s, s, seed, kind)
        cover[kind] = round(float(masks.mean()), 4)
        scores[kind] = _inpaint_methods(task, list(zip(faces, masks)))
    targets = {}
    for kind, t in (INPAINT_TARGETS_256 if s >= 256 else INPAINT_TARGETS).items():
        if kind in scores:
            got = scores[kind]["model"]
            targets[kind] = {**t, "met": all(got[key] >= t[key] for key in t)}
    return {
        "task": "inpaint",
        "model": task.name,
        "size": s,
        "n": n,
        "data": data,
        "seed": seed,
        "kinds": scores,
        "coverage": cover,
        "targets": targets,
    }


def evaluate_photo_inpainter(
    task, n: int = 12, *, data: str = "skimage", seed: int = 0, kinds=None
) -> dict:
    """Inpainting of held-out photos at their own size, next to Telea and biharmonic.

    ``n`` (photo, mask) pairs per mask kind (box: 20-30 % of each side; stroke: thick free-
    form strokes), photo ``i % P`` with a mask drawn from ``[seed, i]``. Per method: PSNR
    and SSIM over the whole image, ``detail`` (``metrics.fill_detail``: the fill's fine detail
    over the photo's, 1.0 = as sharp) and seconds per image, each method timed alone.
    ``kinds``: the mask kinds to measure (default both).
    """
    _require("skimage", "cv2")
    if n < 1:
        raise UserError(f"number of images must be at least 1, got {n}")
    if seed < 0:
        raise UserError(f"seed must be 0 or more, got {seed}")
    kinds = _mask_kinds(kinds, PHOTO_MASK_KINDS)
    photos = held_out_photos(data)
    rgb0 = photos[0][1]
    _warm_up(task, rgb0, photo_mask("box", *rgb0.shape[:2], np.random.default_rng(0)))
    scores, cover = {}, {}
    for k, kind in enumerate(PHOTO_MASK_KINDS):
        if kind not in kinds:
            continue
        pairs = []
        for i in range(n):
            rgb = photos[i % len(photos)][1]
            pairs.append(
                (rgb, photo_mask(kind, *rgb.shape[:2], np.random.default_rng([seed, k, i])))
            )
        cover[kind] = round(float(np.mean([m.mean() for _, m in pairs])), 4)
        scores[kind] = _inpaint_methods(task, pairs)
    targets = {}
    for kind, methods in scores.items():
        over = methods["model"]["psnr"] - methods["telea"]["psnr"]
        targets[kind] = {
            **PHOTO_INPAINT_TARGETS,
            "got_psnr_over_telea": round(over, 3),
            "met": over >= PHOTO_INPAINT_TARGETS["psnr_over_telea"]
            and methods["model"]["detail"] >= PHOTO_INPAINT_TARGETS["detail"],
        }
    return {
        "task": "inpaint",
        "model": task.name,
        "data": data,
        "photos": [f"{name} {rgb.shape[1]}x{rgb.shape[0]}" for name, rgb in photos],
        "n": n,
        "seed": seed,
        "kinds": scores,
        "coverage": cover,
        "targets": targets,
    }


def _luminance_error(outputs: list[np.ndarray], grays: list[np.ndarray]) -> float:
    """Mean |L_out - L_in| in gray levels (Lab L in [0, 100] mapped to 255 levels)."""
    from .color import rgb_to_lab_scaled

    errors = []
    for out, gray in zip(outputs, grays):  # one at a time: photos differ in size
        l_out, _ = rgb_to_lab_scaled(uint8_to_tensor(out[None]))
        l_in, _ = rgb_to_lab_scaled(uint8_to_tensor(np.repeat(gray[None, ..., None], 3, axis=3)))
        errors.append(float((l_out - l_in).abs().mean()) * 127.5)
    return float(np.mean(errors))


def evaluate_colorizer(
    task, n: int | None = None, *, data: str | None = None, seed: int = 0, size: int | None = None
) -> dict:
    """PSNR/SSIM of a Colorizer's RGB vs the original colors of ``n`` held-out faces.

    Faces are rendered at ``size`` (default: the model's); ``data="skimage"`` (the default
    for a native photo model) or a native model on a folder is measured on photos at their
    own size instead. The input is the face converted to gray ("L", as PIL does); the "gray" baseline returns
    that gray image as RGB (a = b = 0). ``luminance_error`` is how far the output's Lab L is
    from the input's, in gray levels. Colorization is deterministic: ``seed`` is only
    reported, so that every ``eval`` takes the same options.
    """
    _require("skimage")
    data, photos = _held_out_kind(task, data)
    n = n if n is not None else (len(SKIMAGE_PHOTOS) if photos else 256)
    if n < 1:
        raise UserError(f"number of images must be at least 1, got {n}")
    if photos:  # held-out photos at their own size (n is capped at the number of photos)
        faces = [rgb for _, rgb in held_out_photos(data)][:n]
    else:
        faces = np.array(held_out_images(n, size or task.size, data))
    grays = [np.asarray(Image.fromarray(f).convert("L")) for f in faces]
    methods = {}
    task.batch_prepared(grays[:1])  # warm-up, untimed
    t0 = time.perf_counter()
    outs = [np.asarray(im) for im in task.batch_prepared(grays)]
    methods["model"] = _scores(outs, faces, time.perf_counter() - t0)
    methods["model"]["luminance_error"] = round(_luminance_error(outs, grays), 4)
    t0 = time.perf_counter()
    outs = [np.repeat(g[..., None], 3, axis=2) for g in grays]
    methods["gray"] = _scores(outs, faces, time.perf_counter() - t0)
    methods["gray"]["luminance_error"] = round(_luminance_error(outs, grays), 4)
    got = methods["model"]
    if photos:
        over = got["psnr"] - methods["gray"]["psnr"]
        targets = {**PHOTO_COLORIZE_TARGETS, "got_psnr_over_gray": round(over, 3)}
        targets["met"] = (
            over >= PHOTO_COLORIZE_TARGETS["psnr_over_gray"]
            and got["luminance_error"] < PHOTO_COLORIZE_TARGETS["luminance_error"]
        )
    else:
        targets = {**COLORIZE_TARGETS}
        targets["met"] = (
            got["psnr"] >= COLORIZE_TARGETS["psnr"]
            and got["luminance_error"] < COLORIZE_TARGETS["luminance_error"]
        )
    return {
        "task": "colorize",
        "model": task.name,
        "size": "own" if photos else size or task.size,
        "n": len(faces),
        "data": data,
        "seed": seed,
        "methods": methods,
        "targets": targets,
    }


def evaluate_completer(
    gen,
    n: int = 64,
    *,
    data: str = "avatars",
    seed: int = 0,
    samples: int = 4,
    region: str = "left-eye",
    method: str = "auto",
) -> dict:
    """Completion from a small visible region (default: only the left eye) on held-out faces.

    Reports the SWD of the completions (best of each image) against other held-out faces next
    to the SWD of plain samples from the same generator and the floor (the held-out faces
    themselves, whole, against the others), the fit on the visible pixels (PSNR
    of the generated face there, before the visible pixels are pasted back), the diversity of
    the samples (mean pairwise L1 distance in the hole, in [0, 1] units) and seconds per image.
    """
    import torch

    from .data.masks import keep_mask
    from .errors import UserError
    from .tasks import Completer

    if n < 2:
        raise UserError("eval complete needs n >= 2")
    faces = held_out_images(2 * n, gen.size, data)
    inputs, others = faces[:n], uint8_to_tensor(faces[n:])
    missing = keep_mask(region, gen.size, gen.size)
    comp = Completer(gen, method=method)
    comp.complete_prepared(inputs[0], missing, samples, seed)  # warm-up, not timed
    best, fits, div = [], [], []
    t0 = time.perf_counter()
    for i in range(n):
        imgs, mse = comp.complete_prepared(inputs[i], missing, samples, seed + i)
        arr = uint8_to_tensor(np.stack([np.asarray(im) for im in imgs]))
        best.append(arr[0])
        fits.append(float(10 * np.log10(4.0 / max(float(mse[0]), 1e-10))))
        hole = torch.from_numpy(missing)
        d = [
            (arr[a] - arr[b]).abs()[:, hole].mean().item() / 2
            for a in range(len(arr))
            for b in range(a + 1, len(arr))
        ]
        div.append(float(np.mean(d)) if d else 0.0)
    sec = (time.perf_counter() - t0) / n
    completions = torch.stack(best)
    plain = gen.sample(latents(n, gen.nz, seed + 10_000, 1.0))
    s_comp = swd(completions, others, seed=seed)["mean"]
    s_plain = swd(plain, others, seed=seed)["mean"]
    s_floor = swd(uint8_to_tensor(inputs), others, seed=seed)["mean"]  # real vs real
    return {
        "task": "complete",
        "model": gen.name,
        "region": region,
        "method": comp.method,
        "n": n,
        "samples": samples,
        "visible_fraction": round(float((~missing).mean()), 4),
        "swd_completions": s_comp,
        "swd_samples": s_plain,
        "swd_ratio": round(s_comp / s_plain, 3),
        "swd_floor": s_floor,
        "fit_psnr_visible": round(float(np.mean(fits)), 2),
        "diversity_l1": round(float(np.mean(div)), 4),
        "sec_per_image": round(sec, 3),
        "targets": {
            "swd_ratio_max": 1.3,
            "sec_per_image_max": 0.5,
            "met": bool(s_comp <= 1.3 * s_plain and sec < 0.5),
        },
    }


def evaluate_upscaler(
    task, n: int | None = None, *, data: str | None = None, seed: int = 0, kinds=None
) -> dict:
    """PSNR/SSIM of an Upscaler on ``n`` held-out faces at its size, next to bicubic.

    Each face (rendered at ``task.size``) is shrunk by the factor with PIL's Lanczos (the
    filter that draws the faces and folder images a smaller model learns, and so the images
    it makes) and upscaled back; ``detail`` is the output's mean |Laplacian| over the
    original's (whole image).
    Deterministic: ``seed`` is only reported, so that every ``eval`` takes the same options.

    A guided upscaler (an inpainting refiner) is measured as what it is for: its ``base``
    inpainter, drawn through it, on held-out faces at its size (``evaluate_inpainter``, on
    ``kinds`` of masks).
    """
    import torch.nn.functional as F

    if task.config.guided:
        from .tasks import load

        base = load(task.config.base)
        base.refiner = task  # this refiner, whichever one ships
        return evaluate_inpainter(base, n, data=data, seed=seed, size=task.size, kinds=kinds)
    if kinds is not None:
        raise UserError("--kinds is for inpainting and guided upscalers")
    n = 256 if n is None else n
    if n < 1:
        raise UserError(f"number of images must be at least 1, got {n}")
    data = data or "avatars"
    faces = np.array(held_out_images(n, task.size, data))
    side = task.size // task.factor
    small = uint8_to_tensor(np.stack([letterbox(f, side, Image.LANCZOS) for f in faces]))
    everywhere = np.ones(faces.shape[1:3], bool)
    task.upscale(small[:1])  # warm-up, untimed
    methods = {}
    for name, run in (
        ("model", task.upscale),
        ("bicubic", lambda x: F.interpolate(x, scale_factor=task.factor, mode="bicubic")),
    ):
        t0 = time.perf_counter()
        out = torch.cat([run(small[i : i + 32]) for i in range(0, n, 32)]).clamp(-1, 1)
        outs = list(tensor_to_uint8(out))
        methods[name] = _scores(outs, faces, time.perf_counter() - t0)
        methods[name]["detail"] = round(
            float(np.mean([fill_detail(o, f, everywhere) for o, f in zip(outs, faces)])), 3
        )
    return {
        "task": "upscale",
        "model": task.name,
        "size": task.size,
        "factor": task.factor,
        "n": n,
        "data": data,
        "seed": seed,
        "methods": methods,
    }
