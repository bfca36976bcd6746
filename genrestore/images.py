"""Open, validate and save images and masks; the one pair of PIL <-> tensor helpers.

Everything a user hands us (a path, bytes, a PIL image or a numpy array) passes through
``open_image`` / ``open_mask`` here, so every task, the CLI and the demo validate input the
same way and raise the same ``UserError`` with a message naming the file.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import UserError

log = logging.getLogger("genrestore")

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_PIXELS = 64_000_000  # about 8000 x 8000; larger images are refused before decoding
MAX_BYTES = 200 * 1024 * 1024
MIN_SIDE = 8  # smaller images carry too little to restore


def source_name(src: ImageSource) -> str:
    """A short name for messages: the path, or a description of an in-memory image."""
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, bytes):
        return "<image bytes>"
    if isinstance(src, np.ndarray):
        return "<numpy image>"
    return "<PIL image>"


def _decode(src: ImageSource, name: str, max_pixels: int) -> Image.Image:
    """Open ``src`` as a loaded PIL image (first frame, EXIF orientation applied)."""
    if isinstance(src, Image.Image):
        img = src
    elif isinstance(src, np.ndarray):
        img = _array_to_pil(src, name)
    else:
        if isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.exists():
                raise UserError(f"{name}: no such file")
            if path.is_dir():
                raise UserError(f"{name}: is a folder, not an image")
            size = path.stat().st_size
            if size == 0:
                raise UserError(f"{name}: empty file (0 bytes), not an image")
            if size > MAX_BYTES:
                raise UserError(f"{name}: file is {size / 2**20:.0f} MB, over the 200 MB limit")
            fp: object = path
        elif isinstance(src, (bytes, bytearray)):
            if len(src) == 0:
                raise UserError(f"{name}: empty data, not an image")
            fp = io.BytesIO(src)
        else:
            raise UserError(f"{name}: expected a path, bytes, PIL image or numpy array")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(fp)  # reads the header only
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UserError(
                f"{name}: image is too large to open safely (over {max_pixels:,} pixels)"
            ) from None
        except Exception as exc:  # noqa: BLE001 - PIL raises many types for junk input
            raise UserError(f"{name}: not a readable image ({_short(exc)})") from None
    w, h = img.size
    if w * h > max_pixels:
        raise UserError(f"{name}: image is {w}x{h}, over the limit of {max_pixels:,} pixels")
    opened_here = not isinstance(src, (Image.Image, np.ndarray))
    try:
        if getattr(img, "n_frames", 1) > 1:
            log.warning("%s: animated image with %d frames; using the first", name, img.n_frames)
            img.seek(0)
        img.load()
        out = ImageOps.exif_transpose(img)
    except Exception as exc:  # noqa: BLE001 - decoders raise many types
        if opened_here:
            img.close()
        raise UserError(f"{name}: cannot decode image ({_short(exc)})") from None
    if opened_here and out is not img:
        img.close()  # multi-frame files keep their file open until closed
    return out


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _array_to_pil(arr: np.ndarray, name: str) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise UserError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:  # 16-bit image data: scale, do not clip to white
        arr = np.round(arr / 257.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            if not np.isfinite(arr).all():
                raise UserError(f"{name}: array contains NaN or infinite values")
            scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
            arr = np.clip(arr * scale, 0, 255).round().astype(np.uint8)
        else:
            arr = np.clip(arr, 0, 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(arr))


def _to_rgb_and_alpha(img: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """Any PIL mode -> (RGB image, alpha as uint8 HxW or None). Transparency goes on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        # I;16* holds 16-bit data whatever its values (a dark 16-bit scan stays dark); mode I
        # may hold 8-bit values from an int array, so only values above 255 mean 16-bit.
        if img.mode.startswith("I;16"):
            top = 65535.0
        else:
            top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        if img.mode == "F":
            top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(arr / top * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB"), None
    has_alpha = (
        img.mode in ("RGBA", "LA", "PA", "RGBa", "La")
        or (img.mode == "P" and "transparency" in img.info)
        or (img.mode in ("L", "RGB") and "transparency" in img.info)
    )
    if not has_alpha:
        return img.convert("RGB"), None
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    return rgb, (alpha if alpha.min() < 255 else None)


def open_image_with_alpha(
    src: ImageSource, *, max_pixels: int = MAX_PIXELS
) -> tuple[Image.Image, np.ndarray | None]:
    """Open any image source as RGB, plus its transparency as a mask if it has any.

    Returns ``(rgb, missing)`` where ``missing`` is a bool HxW array (True where alpha < 128)
    or None when the image is fully opaque. Raises ``UserError`` for anything unusable.
    """
    name = source_name(src)
    img = _decode(src, name, max_pixels)
    w, h = img.size
    if min(w, h) < MIN_SIDE:
        raise UserError(f"{name}: image is {w}x{h}; at least {MIN_SIDE}x{MIN_SIDE} is needed")
    rgb, alpha = _to_rgb_and_alpha(img)
    return rgb, (None if alpha is None else alpha < 128)


def open_image(src: ImageSource, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open a path, bytes, PIL image or numpy array as an RGB PIL image.

    EXIF orientation is applied, animated images give their first frame, 16-bit and float
    images are scaled to 8 bits, transparency is composited on white. Raises ``UserError``
    with a message naming the source for empty, corrupt, tiny or oversized images.
    """
    return open_image_with_alpha(src, max_pixels=max_pixels)[0]


def open_mask(
    src: ImageSource, size: tuple[int, int] | None = None, *, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Open a mask: white (> 127) = missing. Returns a bool HxW array, True = missing.

    A gray or RGB image is read by its luminance; transparent pixels of an RGBA mask count
    as known. ``size`` (width, height) is the image the mask belongs to: a mask of another
    size is an error, never silently resized. A bool or 0/1 numpy array is taken as is.
    """
    name = source_name(src)
    if isinstance(src, np.ndarray) and src.ndim == 3 and src.shape[2] == 1:
        src = src[:, :, 0]  # HxWx1 is HxW: a 0/1 array must not be read as near-black gray
    if (
        isinstance(src, np.ndarray)
        and src.ndim == 2
        and (src.dtype == bool or (src.size and set(np.unique(src).tolist()) <= {0, 1}))
    ):
        missing = src.astype(bool)
    else:
        img = _decode(src, name, max_pixels)
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            gray = Image.alpha_composite(black, rgba).convert("L")
        else:
            gray = _to_rgb_and_alpha(img)[0].convert("L")
        missing = np.asarray(gray) > 127
    if size is not None and (missing.shape[1], missing.shape[0]) != tuple(size):
        raise UserError(
            f"{name}: mask is {missing.shape[1]}x{missing.shape[0]} but the image is "
            f"{size[0]}x{size[1]}; the mask must have the image's size"
        )
    return missing


def pil_to_tensor(images: Image.Image | list[Image.Image]):
    """PIL RGB image(s) -> float tensor (N, 3, H, W) in [-1, 1]. All images share one size."""
    if isinstance(images, Image.Image):
        images = [images]
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    return uint8_to_tensor(arr)


def uint8_to_tensor(arr: np.ndarray):
    """uint8 array (N, H, W, 3) -> float tensor (N, 3, H, W) in [-1, 1]."""
    import torch

    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:  # a read-only memory map: copy rather than alias
        arr = arr.copy()
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
    return t.div_(127.5).sub_(1.0)


def tensor_to_uint8(x) -> np.ndarray:
    """Float tensor (N, 3, H, W) in [-1, 1] -> uint8 array (N, H, W, 3). NaN becomes 0."""
    import torch

    x = torch.nan_to_num(x.detach().float().cpu(), nan=0.0, posinf=1.0, neginf=-1.0)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def tensor_to_pil(x) -> list[Image.Image]:
    """Float tensor (N, 3, H, W) in [-1, 1] -> list of RGB PIL images (clamped, NaN-safe)."""
    return [Image.fromarray(a) for a in tensor_to_uint8(x)]


def image_grid(images: list[Image.Image], cols: int | None = None, pad: int = 2) -> Image.Image:
    """Tile same-size images into one image on a white background, row-major."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    w, h = images[0].size
    grid = Image.new("RGB", (cols * (w + pad) + pad, rows * (h + pad) + pad), "white")
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid.paste(im, (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers never see half a file."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{path}: the folder {parent} does not exist")
    # Not mkstemp: its 0600 mode would survive the rename and hide the file from other users.
    # O_EXCL with mode 0666 gives a private name and the umask's usual permissions.
    for _ in range(100):
        tmp = str(parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    else:
        raise UserError(f"{path}: cannot create a temporary file in {parent}")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # some writers (safetensors) recreate the file as 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_image(img: Image.Image, path: str | os.PathLike) -> None:
    """Save atomically; the format follows the suffix (png, jpg, webp, bmp)."""
    suffix = Path(path).suffix.lower()
    formats = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}
    if suffix not in formats:
        raise UserError(f"{path}: unknown image type {suffix or '(none)'}; use .png or .jpg")
    fmt = formats[suffix]
    extra = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    try:
        atomic_write(path, lambda tmp: img.save(tmp, format=fmt, **extra))
    except OSError as exc:
        raise UserError(f"{path}: cannot write ({exc.strerror or exc})") from None
