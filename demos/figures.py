"""Render the README's pictures from the shipped models, on held-out faces only.

    python demos/figures.py [--out docs] [--only complete]

Writes gan.png, vae.png (samples), inpaint.png and colorize.png (input / result / original
rows) and complete.png (visible region, four completions, original), for each shipped model
that is present.
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
        choices=["gan", "vae", "inpaint", "colorize", "complete"],
        default=None,
        help="write only these figures (default: all)",
    )
    args = ap.parse_args()
    wanted = set(args.only or ["gan", "vae", "inpaint", "colorize", "complete"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = args.n
    faces = np.array(load_eval_faces(64 + 3 * n, 64))[64:]  # held-out, away from eval's first 64

    for name in ("faces-gan-64", "faces-vae-64"):
        if name.split("-")[1] not in wanted:
            continue
        gen = _try_load(name)
        if gen is not None:
            _grid(gen.generate(2 * n, seed=0), n).save(out / f"{name.split('-')[1]}.png")

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
    print(f"figures written to {out}/")


if __name__ == "__main__":
    main()
