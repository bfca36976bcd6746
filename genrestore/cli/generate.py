"""``genrestore generate``: sample faces from a GAN or VAE into a grid or a folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .options import add_precision, positive


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample new faces from a GAN or VAE",
        description="Sample faces. OUT ending in .png/.jpg writes one grid; any other OUT is a "
        "folder that gets one file per face (face-0000.png, ...).",
    )
    p.add_argument(
        "--model", default="faces-gan-64", help="shipped model name or .safetensors path"
    )
    p.add_argument("-n", type=positive, default=16, help="number of faces (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--truncation",
        type=float,
        default=None,
        help="(0, 2]: latents scaled by this, below 1 toward the mean face for less variety "
        "(default: the model's own; at 256 px below 1 does not score better, see README)",
    )
    p.add_argument(
        "--interpolate",
        type=int,
        default=None,
        metavar="SEED_B",
        help="instead of n faces, interpolate from --seed to this seed in n steps",
    )
    p.add_argument(
        "--size",
        type=positive,
        default=None,
        help="face side in px (default: 256 for the shipped 64-px models, drawn sharp by the "
        "shipped upscaler faces-upscale-256; other models: their own size); 64 = as sampled",
    )
    p.add_argument("--out", required=True)
    add_precision(p)


def run(args: argparse.Namespace) -> int:
    from ..images import image_grid, save_image
    from ..tasks import Generator, load

    gen = load(args.model, precision=args.precision or "auto")
    if not isinstance(gen, Generator):
        raise UserError(f"{args.model}: is not a generative model (gan or vae)")
    if args.interpolate is not None:
        faces = gen.interpolate(args.seed, args.interpolate, max(2, args.n), size=args.size)
    else:
        faces = gen.generate(args.n, seed=args.seed, truncation=args.truncation, size=args.size)
    out = Path(args.out)
    if out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        cols = len(faces) if args.interpolate is not None else None
        save_image(image_grid(faces, cols=cols), out)
        print(f"wrote {out} ({len(faces)} faces)")
        return 0
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. OUT is an existing file, or the parent is read-only
        reason = exc.strerror or exc
        raise UserError(f"{out}: cannot create the output folder ({reason})") from None
    for i, face in enumerate(faces):
        save_image(face, out / f"face-{i:04d}.png")
    print(f"wrote {len(faces)} faces to {out}/")
    return 0
