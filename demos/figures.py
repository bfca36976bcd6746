"""Render the README's pictures from the shipped models, on held-out faces only.

    python demos/figures.py [--out docs] [--only complete]

Writes gan.png, vae.png (samples), inpaint.png and colorize.png (input / result / original
rows) and complete.png (visible region, four completions, original), for each shipped model
that is present; photos.png: scikit-image's sample photos restored at their own size by the
photo models (damaged, OpenCV Telea, the photo inpainter that --model auto uses, original;
and, once one is shipped, gray, photos-colorize, original), each shown shrunk to one height;
photos-native.png: a 512x512 and a 1024x768 photo filled at their own size, the hole at 1:1;
upscale.png: 256-px faces, bicubic next to faces-upscale-256, and inpainted at 256.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import genrestore
from genrestore.data.avatars import load_eval_faces
from genrestore.data.masks import keep_mask, mask_batch
from genrestore.errors import UserError
from genrestore.images import image_grid

SCALE = 2  # 64 px faces shown at 128 px


def _show(img: Image.Image) -> Image.Image:
    return img.resize((img.width * SCALE, img.height * SCALE), Image.NEAREST)


def _grid(tiles: list[Image.Image], cols: int) -> Image.Image:
    return image_grid([_show(t) for t in tiles], cols=cols, pad=4)


def _shipped() -> set[str]:
    return {m["name"] for m in genrestore.list_models()}


def _try_load(name: str):
    try:
        return genrestore.load(name)
    except UserError as exc:
        print(f"skipping {name}: {exc}")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs")
    ap.add_argument("--n", type=int, default=8, help="faces per row")
    ap.add_argument(
        "--only",
        nargs="+",
        choices=["gan", "vae", "inpaint", "colorize", "complete", "upscale", "photos"],
        default=None,
        help="write only these figures (default: all)",
    )
    args = ap.parse_args()
    wanted = set(
        args.only or ["gan", "vae", "inpaint", "colorize", "complete", "upscale", "photos"]
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.n
    faces = np.array(load_eval_faces(64 + 3 * n, 64))[64:]  # held-out, away from eval's first 64

    for name in ("faces-gan-64", "faces-vae-64"):
        if name.split("-")[1] not in wanted:
            continue
        gen = _try_load(name)
        if gen is not None:
            _grid(gen.generate(2 * n, seed=0, size=gen.size), n).save(
                out / f"{name.split('-')[1]}.png"
            )

    inp = _try_load("faces-inpaint-64") if "inpaint" in wanted else None
    if inp is not None:
        masks = np.concatenate(
            [mask_batch(n // 2, 64, 64, 7, "box"), mask_batch(n - n // 2, 64, 64, 7, "stroke")]
        )
        src = faces[:n]
        damaged = [
            Image.fromarray(np.where(m[..., None], 255, f).astype(np.uint8))
            for f, m in zip(src, masks)
        ]
        fixed = inp.batch(list(src), list(masks))
        _grid(damaged + fixed + [Image.fromarray(f) for f in src], n).save(out / "inpaint.png")

    col = _try_load("faces-colorize-64") if "colorize" in wanted else None
    if col is not None:
        src = faces[n : 2 * n]
        gray = [Image.fromarray(f).convert("L").convert("RGB") for f in src]
        colored = col.batch(gray)
        _grid(gray + colored + [Image.fromarray(f) for f in src], n).save(out / "colorize.png")

    gen = _try_load("faces-gan-64") if "complete" in wanted else None
    if gen is not None:
        missing = keep_mask("left-eye", 64, 64)
        tiles = []
        for f in faces[2 * n : 2 * n + 3]:
            tiles.append(Image.fromarray(np.where(missing[..., None], 255, f).astype(np.uint8)))
            tiles += gen.complete(f, missing, samples=4, seed=0)
            tiles.append(Image.fromarray(f))
        _grid(tiles, 6).save(out / "complete.png")
    if "upscale" in wanted:
        upscale_figure(out / "upscale.png")
    if "photos" in wanted:
        photo_figure(out / "photos.png")
        sharp_figure(out / "photos-native.png")
    print(f"figures written to {out}/")


def photo_figure(path: Path, height: int = 220) -> None:
    """Rows of photos restored at their own size, shown at ``height`` px (see module doc)."""
    import cv2

    from genrestore.evaluate import held_out_photos, photo_mask
    from genrestore.tasks.auto import photo_model

    inp = _try_load(photo_model("inpaint"))
    col = _try_load("photos-colorize") if "photos-colorize" in _shipped() else None
    if inp is None:
        return
    photos = dict(held_out_photos("skimage"))
    rows = []
    for name, kind, seed in (("coffee", "box", 1), ("chelsea", "stroke", 2), ("rocket", "box", 3)):
        rgb = photos[name]
        missing = photo_mask(kind, *rgb.shape[:2], np.random.default_rng(seed))
        damaged = np.where(missing[..., None], 255, rgb).astype(np.uint8)
        telea = cv2.inpaint(rgb, missing.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
        rows.append([damaged, telea, np.asarray(inp(rgb, missing)), rgb])
    for name in ("astronaut", "stereo_motorcycle") if col is not None else ():
        rgb = photos[name]
        gray = np.asarray(Image.fromarray(rgb).convert("L").convert("RGB"))
        rows.append([gray, np.asarray(col(Image.fromarray(gray))), rgb])

    def shown(a: np.ndarray) -> Image.Image:
        img = Image.fromarray(a)
        return img.resize((round(img.width * height / img.height), height), Image.LANCZOS)

    _rows_sheet([[shown(a) for a in row] for row in rows], height).save(path)


def _rows_sheet(rows: list[list[Image.Image]], height: int, pad: int = 4) -> Image.Image:
    """Rows of tiles (each ``height`` px tall), side by side, on white."""
    width = max(sum(t.width + pad for t in row) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (height + pad)), "white")
    for r, row in enumerate(rows):
        x = 0
        for t in row:
            sheet.paste(t, (x, r * (height + pad)))
            x += t.width + pad
    return sheet


def upscale_figure(path: Path) -> None:
    """256-px faces: GAN samples upscaled by bicubic and by faces-upscale-256 (pairs), and
    held-out faces rendered at 256 inpainted by faces-inpaint-64 (damaged, result, original)."""
    import torch.nn.functional as F

    from genrestore.evaluate import held_out_images
    from genrestore.images import tensor_to_pil, uint8_to_tensor

    gen, inp = _try_load("faces-gan-64"), _try_load("faces-inpaint-64")
    if gen is None or inp is None or "faces-upscale-256" not in _shipped():
        return
    small = uint8_to_tensor(
        np.stack([np.asarray(f) for f in gen.generate(3, seed=3, size=gen.size)])
    )
    bicubic = tensor_to_pil(F.interpolate(small, scale_factor=4, mode="bicubic").clamp(-1, 1))
    sharp = gen.generate(3, seed=3, size=256)
    rows = [[t for pair in zip(bicubic, sharp) for t in pair]]
    faces = np.array(held_out_images(72, 256))[64:]  # away from eval's first 64
    row = []
    for face, kind in ((faces[0], "box"), (faces[1], "stroke")):
        missing = mask_batch(1, 256, 256, 11, kind)[0]
        damaged = np.where(missing[..., None], 255, face).astype(np.uint8)
        row += [Image.fromarray(damaged), inp(face, missing), Image.fromarray(face)]
    rows.append(row)
    _rows_sheet(rows, 256).save(path)


def sharp_figure(path: Path, height: int = 256, crop: int = 256) -> None:
    """Photos filled at their own size, and the hole at 1:1 (see the README's photo section).

    A 512x512 photo with a box (scikit-image's astronaut) and a 1024x768 one with strokes
    (a validation photo of the built-in set, never in its training crops): per row, the
    damaged photo shrunk to ``height``, then ``crop`` px squares at full resolution around
    the hole: OpenCV Telea, the photo inpainter that --model auto uses, the original.
    """
    import cv2

    from genrestore.data.photos import photo_files
    from genrestore.evaluate import held_out_photos, photo_mask
    from genrestore.tasks.auto import photo_model

    inp = _try_load(photo_model("inpaint"))
    if inp is None:
        return
    try:
        path_1024 = next(p for p in photo_files(split="validation") if "picos" in p.name)
        big = Image.open(path_1024).convert("RGB").resize((1024, 768), Image.LANCZOS)
    except (UserError, StopIteration):
        big = None
    cases = [(dict(held_out_photos("skimage"))["astronaut"], "box", 4)]
    cases += [(np.asarray(big), "stroke", 5)] if big is not None else []
    rows = []
    for rgb, kind, seed in cases:
        missing = photo_mask(kind, *rgb.shape[:2], np.random.default_rng(seed))
        damaged = np.where(missing[..., None], 255, rgb).astype(np.uint8)
        telea = cv2.inpaint(rgb, missing.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
        ours = np.asarray(inp(rgb, missing))
        ys, xs = np.nonzero(missing)
        cy, cx = int(ys.mean()), int(xs.mean())
        y0 = min(max(0, cy - crop // 2), rgb.shape[0] - crop)
        x0 = min(max(0, cx - crop // 2), rgb.shape[1] - crop)
        shrunk = Image.fromarray(damaged)
        shrunk = shrunk.resize((round(shrunk.width * height / shrunk.height), height))
        rows.append(
            [shrunk]
            + [Image.fromarray(a[y0 : y0 + crop, x0 : x0 + crop]) for a in (telea, ours, rgb)]
        )
    _rows_sheet(rows, height).save(path)


if __name__ == "__main__":
    main()
