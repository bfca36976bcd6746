"""``genrestore eval``: measure a model on held-out faces with its family's evaluator."""

from __future__ import annotations

import argparse
import json

from ..errors import UserError
from ..families import Family, evaluations, families, resolve
from .options import add_completion_method, add_precision, positive


def _eval_names() -> list[str]:
    """Evaluations named after a family first, in family order; then the shared ones."""
    return sorted(evaluations(), key=lambda name: name not in families())


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a model on held-out faces; prints one JSON object",
        description="Evaluate on held-out built-in faces (indices >= 1,000,000) at the model's "
        "size. gan/vae: multi-scale sliced Wasserstein distance (SWD x1e3) of n samples against "
        "n held-out faces, next to the real-vs-real floor at the same count. inpaint: PSNR and "
        "SSIM per mask kind (box, stroke, large, keep; fixed masks from --seed), next to the "
        "OpenCV Telea and biharmonic baselines. colorize: PSNR and SSIM of the colors, next to "
        "the gray image, and the luminance error in gray levels. Photo models (and --data skimage) "
        "are measured on photos at their own size, with the fill's detail (mean |Laplacian| "
        "in the hole over the photo's) for inpainting. inpaint/colorize need "
        "pip install 'genrestore[eval]'. FID needs Inception weights, which genrestore never "
        "downloads: pass a local file with --inception (not yet supported; SWD is the metric "
        "here).",
    )
    p.add_argument("family", choices=_eval_names())
    p.add_argument(
        "--model", default=None, help="shipped model name or path (default faces-FAMILY-64)"
    )
    p.add_argument(
        "-n",
        type=positive,
        default=None,
        help="held-out faces (and samples) to use (default 256; 64 for complete; photos: "
        "12 photo/mask pairs per kind for inpaint, all 6 photos for colorize)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="held-out data: 'avatars' (default for face models), 'skimage' (scikit-image's "
        "sample photos at their own size; default for photo models), 'photos' (the built-in "
        "photo set's validation photos, never in its training crops) or a folder",
    )
    p.add_argument("--seed", type=int, default=0, help="latents (gan/vae) or masks (inpaint)")
    p.add_argument(
        "--size",
        type=positive,
        default=None,
        help="inpaint/colorize/gan/vae on faces: render the held-out faces at this size "
        "(default: the model's; e.g. 256 to measure a 64-px model on 256-px faces; samples "
        "are taken there as generate --size does)",
    )
    p.add_argument(
        "--kinds",
        default=None,
        help="inpaint (and guided upscalers): the mask kinds to measure, e.g. box,stroke "
        "(default all: box, stroke, large, keep, region; photos: box, stroke)",
    )
    p.add_argument(
        "--draws",
        type=positive,
        default=None,
        help="gan/vae: also measure this many draws in all (draw k: the next 2n held-out "
        "faces, latents of --seed + k) and report each one's SWD, their mean and standard "
        "deviation (one draw of 256 samples varies by units)",
    )
    p.add_argument(
        "--truncation",
        type=float,
        default=None,
        help="gan/vae: sample at this truncation in (0, 2], as generate --truncation does "
        "(default: the model's own)",
    )
    p.add_argument("--inception", default=None, help="local Inception weights file for FID")
    add_completion_method(p)
    add_precision(p)


# Options only some evaluations take: the option -> those evaluations.
ONLY_FOR = {
    "size": ("inpaint", "colorize", "gan", "vae"),
    "kinds": ("inpaint", "upscale"),
    "draws": ("gan", "vae"),
    "truncation": ("gan", "vae"),
}


def _default_family(offering: list[Family], eval_name: str) -> Family:
    """The family whose shipped model an evaluation uses without --model."""
    return next((f for f in offering if f.name == eval_name), offering[0])


def run(args: argparse.Namespace) -> int:
    if args.inception:
        raise UserError("FID is not implemented yet; SWD is reported without --inception")
    from ..tasks import load

    offering = evaluations()[args.family]
    name = args.model or _default_family(offering, args.family).shipped
    task = load(name, precision=args.precision or "auto")
    wanted = [f.name for f in offering]
    if task.family not in wanted:
        raise UserError(f"{name}: is a {task.family} model, not {' or '.join(wanted)}")
    fam = next(f for f in offering if f.name == task.family)
    evaluator = resolve(fam.evaluations[args.family])
    options = {"method": args.method} if args.family == "complete" else {}
    if args.n:  # else each evaluator's own default (it differs for faces and photos)
        options["n"] = args.n
    for opt, takers in ONLY_FOR.items():
        value = getattr(args, opt)
        if value is None or value == "":
            continue
        if args.family not in takers:
            raise UserError(f"--{opt} is for eval {', '.join(takers[:-1])} and {takers[-1]}")
        options[opt] = value
    if args.data:  # else the evaluator's own (faces, or photos for a photo model)
        options["data"] = args.data
    report = evaluator(task, seed=args.seed, **options)
    print(json.dumps(report, sort_keys=True))
    return 0
