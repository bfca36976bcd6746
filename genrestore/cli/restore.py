"""``genrestore inpaint``, ``colorize`` and ``complete``: one file, or a folder as a batch job."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import UserError
from .batch import batch_items, run_batch, same, save_outputs
from .jobs import ColorizeJob, CompleteJob, InpaintJob
from .options import add_completion_method, add_precision, positive

_BATCH_TEXT = (
    "IN may be a folder: then every image under it (jpg/png/webp/bmp, subfolders included, "
    "hidden files skipped) is restored to the same relative path under the folder OUT, "
    "several images per forward pass. A file that cannot be restored is listed at the end "
    "with its reason instead of stopping the job (exit 1 if any failed), and outputs that "
    "already exist are skipped, so re-running a stopped job resumes it."
)


def add_parser(sub) -> None:
    """``inpaint``, ``colorize`` and ``complete``."""
    _add_inpaint(sub)
    _add_colorize(sub)
    _add_complete(sub)


def run(args: argparse.Namespace) -> int:
    from ..tasks import Colorizer, Inpainter

    if args.command == "inpaint":
        return _restore(args, "inpaint", Inpainter, InpaintJob, args.mask)
    if args.command == "colorize":
        return _restore(args, "colorize", Colorizer, ColorizeJob, None)
    return _complete(args)


def _add_restore_options(p: argparse.ArgumentParser, model: str) -> None:
    p.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="output file (format from its suffix: .png, .jpg, .webp, .bmp) or a folder "
        "(OUT/NAME.png); a folder when IN is a folder",
    )
    p.add_argument(
        "--model",
        default="auto",
        help=f"'auto' (default): each image goes to the face model ({model}) if the face VAE "
        "recognises it as a face of the built-in kind, else to the photo model (inpainting: "
        "the network-free 'pull-push' while no photo inpainter is shipped); or a shipped "
        "model name, 'pull-push', a .safetensors path or a run folder",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="batch jobs: redo outputs that already exist (by default they are skipped); "
        "a single output file is always written",
    )
    p.add_argument(
        "--batch-size",
        type=positive,
        default=None,
        help="images per forward pass (default: the task's, 64)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_precision(p)


def _add_inpaint(sub) -> None:
    p = sub.add_parser(
        "inpaint",
        help="fill the missing region of an image (mask: white = missing)",
        description="Fill the missing pixels of an image. A mask is a gray or RGB image of the "
        "image's size, white (>127) = missing. Without --mask, the image's transparent pixels "
        "(alpha < 128) are the missing ones. Known pixels are kept exactly and the output has "
        "the input's size (a lossy .jpg/.webp output re-encodes them). " + _BATCH_TEXT + " In a "
        "batch, MASK is a folder too: the mask of IN/sub/a.jpg is MASK/sub/a.<any image "
        "suffix>; without --mask every image needs transparency.",
    )
    p.add_argument("--image", required=True, metavar="IN", help="an image file or a folder of them")
    p.add_argument(
        "--mask", metavar="MASK", help="a mask file, or a folder of masks named like the images"
    )
    _add_restore_options(p, "faces-inpaint-64")


def _add_colorize(sub) -> None:
    p = sub.add_parser(
        "colorize",
        help="color a grayscale image (color input is made gray first)",
        description="Color a grayscale image. A color input is converted to gray first. The "
        "result keeps the input's luminance (L in Lab): the model predicts only the colors (the "
        "face model at 64 px, the photo model at the image's aspect, at most 384 px on the long "
        "side) and they are scaled to the input's size. " + _BATCH_TEXT,
    )
    p.add_argument("--image", required=True, metavar="IN", help="an image file or a folder of them")
    _add_restore_options(p, "faces-colorize-64")


def _add_complete(sub) -> None:
    from ..data.masks import KEEP_REGIONS

    p = sub.add_parser(
        "complete",
        help="draw whole faces around a small visible region",
        description="Complete a face from a small visible region (e.g. only the left eye): "
        "draws faces that match the visible pixels (in one pass with the model's completion "
        "encoder where it ships one, e.g. faces-gan-64; else by searching the generator's "
        "latent space) and writes --samples of them, best fit first, as "
        "OUT/<stem>-0.png, -1.png, ... "
        "The visible pixels are kept exactly. --keep builds the mask from the layout of the "
        "model's training faces (a face centred in a square; 'left' = left of the picture); "
        "with your own photos, crop them like that or pass --mask (white = missing). "
        + _BATCH_TEXT,
    )
    p.add_argument("--image", required=True, metavar="IN", help="an image file or a folder of them")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--mask", metavar="MASK", help="a mask file (white = missing), or a folder of them"
    )
    g.add_argument("--keep", choices=list(KEEP_REGIONS), help="keep only this region visible")
    p.add_argument("--samples", type=positive, default=4, help="completions per image (default 4)")
    p.add_argument("--seed", type=int, default=0)
    add_completion_method(p)
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--model", default="faces-gan-64", help="a gan or vae model (faces-gan-64)")
    p.add_argument("--overwrite", action="store_true", help="batch jobs: redo finished images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_precision(p)


def _inputs(args: argparse.Namespace, mask_arg: str | None) -> tuple[Path, Path | None]:
    """--image and --mask as paths, both checked to exist."""
    src = Path(args.image)
    mask = Path(mask_arg) if mask_arg else None
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    if mask is not None and not mask.exists():
        raise UserError(f"{mask}: no such mask file or folder")
    return src, mask


def _restore(args, family: str, task_class: type, job_class: type, mask_arg: str | None) -> int:
    """inpaint or colorize: one file to one file, or a folder to a folder (a batch job)."""
    src, mask = _inputs(args, mask_arg)
    if src.is_dir():
        if mask is not None and not mask.is_dir():
            raise UserError(
                f"--image {src} is a folder but --mask {mask} is a file; a batch job needs a "
                "folder of masks named like the images"
            )
        out = _batch_out(src, mask, args.out)
        items = batch_items(src, mask, out)
        job = job_class(_load(args.model, family, task_class, args.precision), args.batch_size)
        _make_folder(out)
        return run_batch(job, items, overwrite=args.overwrite, progress=not args.no_progress)
    if mask is not None and mask.is_dir():
        raise UserError(
            f"--image {src} is a file but --mask {mask} is a folder; give one mask file, or a "
            "folder of images for a batch job"
        )
    out = _single_out(src, mask, args.out)
    job = job_class(_load(args.model, family, task_class, args.precision), args.batch_size)
    _make_folder(out.parent)
    save_outputs(job, job.run([job.prepare(src, mask)])[0], out)
    written = job.output_paths(out)
    print(f"wrote {written[0]}" + (f" ... {written[-1].name}" if len(written) > 1 else ""))
    return 0


def _complete(args: argparse.Namespace) -> int:
    """complete: each input becomes --samples files in the folder OUT."""
    from ..tasks import Generator

    src, mask = _inputs(args, args.mask)
    if mask is not None and mask.is_dir() != src.is_dir():
        raise UserError("--image and --mask must both be files or both be folders")
    gen = _load(args.model, "complete", Generator, args.precision)
    job = CompleteJob(gen, args.keep, args.samples, args.seed, args.method)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; complete writes several images into a folder")
    if same(out, src) or same(out, mask):
        raise UserError(f"--out {out} is an input folder; choose another folder")
    _make_folder(out)
    if src.is_dir():
        items = batch_items(src, mask, out)
        return run_batch(job, items, overwrite=args.overwrite, progress=not args.no_progress)
    images = job.run([job.prepare(src, mask)])[0]
    save_outputs(job, images, out / f"{src.stem}.png")
    print(
        f"wrote {len(images)} completions to {out}/ "
        f"({src.stem}-0.png ... {src.stem}-{len(images) - 1}.png)"
    )
    return 0


def _load(model: str, family: str, task_class: type, precision: str | None):
    """Load ``model`` once and check that it is a ``family`` model."""
    from ..tasks import load
    from ..tasks.auto import auto

    if model == "auto" and family in ("inpaint", "colorize"):
        return auto(family, precision=precision or "auto")
    task = load(model, precision=precision or "auto")
    if not isinstance(task, task_class):
        raise UserError(
            f"{model}: is a '{task.family}' model; {family} needs an '{family}' model "
            f"(--model NAME or a .safetensors path)"
        )
    return task


def _single_out(src: Path, mask: Path | None, out_arg: str) -> Path:
    """OUT for one input file: OUT itself, or OUT/<stem>.png when OUT is (or ends like) a folder."""
    from ..images import IMAGE_SUFFIXES

    out = Path(out_arg)
    if out.is_dir() or out_arg.endswith(("/", os.sep)):
        out = out / f"{src.stem}.png"
    elif out.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(
            f"{out}: unknown image type {out.suffix or '(no suffix)'}; use .png, .jpg, .webp "
            "or .bmp, or an existing folder"
        )
    elif not out.parent.is_dir():
        raise UserError(f"{out}: the folder {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"{out}: is a folder; give an output file name")
    if same(out, src) or same(out, mask):
        raise UserError(f"{out}: is an input file; write the result to another file")
    return out


def _batch_out(src: Path, mask: Path | None, out_arg: str) -> Path:
    """OUT for a folder of inputs: a folder that is neither the input nor the mask folder."""
    from ..images import IMAGE_SUFFIXES

    out = Path(out_arg)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with a folder of images, OUT must be a folder")
    if not out.exists() and out.suffix.lower() in IMAGE_SUFFIXES:
        raise UserError(
            f"--out {out} looks like an image file; with a folder of images, OUT must be a folder"
        )
    if same(out, src) or same(out, mask):
        raise UserError(
            f"--out {out} is an input folder; results would overwrite the inputs, so choose "
            "another folder"
        )
    if same(mask, src):
        raise UserError(f"--mask {mask} is the image folder; keep the masks in their own folder")
    return out


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) and check that files can be written in it."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or exc
        raise UserError(f"{folder}: cannot write into this folder ({reason})") from None
