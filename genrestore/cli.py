"""The ``genrestore`` command: thin argparse subcommands over the Python API.

Errors a user can fix print one line on stderr and exit 2; other failures exit 1.
Set GENRESTORE_DEBUG=1 to see full tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from .errors import UserError

# Subcommands that parse but are not in this version yet: name -> what brings them.
PLANNED: dict[str, str] = {}


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit 2 (no usage dump)."""

    def error(self, message: str):  # subparsers inherit this class
        self.exit(2, f"genrestore: error: {message} (see '{self.prog} --help')\n")


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _add_precision(p) -> None:
    p.add_argument(
        "--precision",
        default=None,
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto (default: the fastest measured on this machine, see 'genrestore env'; "
        "$GENRESTORE_PRECISION overrides it), or force one",
    )


def _add_train(sub) -> None:
    from .config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a model family on the built-in faces or a folder",
        description="Train a model. Defaults come from the preset; flags override them. "
        "Writes a resumable run directory (config.json, checkpoint.safetensors, log.txt, "
        "sample grids). Data-parallel on several GPUs or machines: start the same command "
        "with 'torchrun --nproc_per_node N -m genrestore train ...' (--batch is then the "
        "global batch; --out is required).",
    )
    p.add_argument("family", choices=["gan", "vae", "inpaint", "colorize"])
    p.add_argument(
        "--data", default=None, help="'avatars' (built-in faces, default) or a folder of images"
    )
    p.add_argument("--count", type=_positive, default=None, help="built-in faces to train on")
    p.add_argument(
        "--size", type=int, default=None, help="image side in pixels (16..256, power of two)"
    )
    p.add_argument(
        "--preset", default=None, help="preset name (see --dry-run); default gan-64 / vae-64"
    )
    p.add_argument(
        "--steps", type=_positive, default=None, help=f"training steps (default {d.steps})"
    )
    p.add_argument(
        "--batch",
        type=_positive,
        default=None,
        help=f"batch size: with torchrun, of all processes together (default {d.batch})",
    )
    p.add_argument(
        "--save-every",
        type=_positive,
        default=None,
        help=f"checkpoint every N steps ({d.save_every})",
    )
    p.add_argument(
        "--sample-every",
        type=_positive,
        default=None,
        help=f"sample grid every N steps ({d.sample_every})",
    )
    p.add_argument(
        "--log-every",
        type=_positive,
        default=None,
        help=f"log losses and img/s every N steps ({d.log_every})",
    )
    p.add_argument("--out", default=None, help="run directory (default runs/FAMILY-SIZE-TIME)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out where it stopped"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the resolved config as JSON and exit"
    )
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default auto)")
    _add_precision(p)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_train(a) -> int:
    from .config import DEFAULT_PRESET, preset, with_size

    cfg = preset(a.preset or DEFAULT_PRESET[a.family])
    if cfg.family != a.family:
        raise UserError(f"preset {a.preset!r} is a {cfg.family} preset, not {a.family}")
    if a.size is not None:
        cfg = with_size(cfg, a.size)
    if a.data is not None or a.count is not None:
        cfg = dataclasses.replace(
            cfg,
            data=dataclasses.replace(
                cfg.data,
                source=a.data if a.data is not None else cfg.data.source,
                count=a.count if a.count is not None else cfg.data.count,
            ),
        )
    overrides = {
        "steps": a.steps,
        "batch": a.batch,
        "save_every": a.save_every,
        "sample_every": a.sample_every,
        "log_every": a.log_every,
        "out": a.out,
        "device": a.device,
        "precision": a.precision,
        "seed": a.seed,
    }
    from .training import resolve_config

    if a.resume and not a.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    resolved = resolve_config(cfg, **overrides)
    if cfg.data.source != "avatars" and not Path(cfg.data.source).is_dir():
        raise UserError(
            f"{cfg.data.source}: no such folder (use --data avatars or a folder of images)"
        )
    if a.dry_run:
        if int(os.environ.get("RANK", "0")) == 0:
            print(resolved.to_json())
        return 0
    from .training import train

    run_dir = train(resolved, resume=a.resume, progress=not a.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun: one line, not one per process
        print(f"run saved in {run_dir}")
    return 0


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample new faces from a GAN or VAE",
        description="Sample faces. OUT ending in .png/.jpg writes one grid; any other OUT is a "
        "folder that gets one file per face (face-0000.png, ...).",
    )
    p.add_argument(
        "--model", default="faces-gan-64", help="shipped model name or .safetensors path"
    )
    p.add_argument("-n", type=_positive, default=16, help="number of faces (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--truncation", type=float, default=None, help="(0, 1]: less variety, cleaner faces"
    )
    p.add_argument(
        "--interpolate",
        type=int,
        default=None,
        metavar="SEED_B",
        help="instead of n faces, interpolate from --seed to this seed in n steps",
    )
    p.add_argument("--out", required=True)
    _add_precision(p)


def _cmd_generate(a) -> int:
    from .images import image_grid, save_image
    from .tasks import Generator, load

    gen = load(a.model, precision=a.precision or "auto")
    if not isinstance(gen, Generator):
        raise UserError(f"{a.model}: is not a generative model (gan or vae)")
    if a.interpolate is not None:
        faces = gen.interpolate(a.seed, a.interpolate, max(2, a.n))
    else:
        faces = gen.generate(a.n, seed=a.seed, truncation=a.truncation)
    out = Path(a.out)
    if out.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        cols = len(faces) if a.interpolate is not None else None
        save_image(image_grid(faces, cols=cols), out)
        print(f"wrote {out} ({len(faces)} faces)")
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. OUT is an existing file, or the parent is read-only
            reason = exc.strerror or exc
            raise UserError(f"{out}: cannot create the output folder ({reason})") from None
        for i, face in enumerate(faces):
            save_image(face, out / f"face-{i:04d}.png")
        print(f"wrote {len(faces)} faces to {out}/")
    return 0


# --- inpaint / colorize: one file, or a folder as a resumable batch job ----------------------

_BATCH_TEXT = (
    "IN may be a folder: then every image under it (jpg/png/webp/bmp, subfolders included, "
    "hidden files skipped) is restored to the same relative path under the folder OUT, "
    "several images per forward pass. A file that cannot be restored is listed at the end "
    "with its reason instead of stopping the job (exit 1 if any failed), and outputs that "
    "already exist are skipped, so re-running a stopped job resumes it."
)


def _add_restore_options(p, model: str) -> None:
    p.add_argument(
        "--out",
        required=True,
        metavar="OUT",
        help="output file (format from its suffix: .png, .jpg, .webp, .bmp) or a folder "
        "(OUT/NAME.png); a folder when IN is a folder",
    )
    p.add_argument(
        "--model", default=model, help=f"shipped model name or .safetensors path ({model})"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="batch jobs: redo outputs that already exist (by default they are skipped); "
        "a single output file is always written",
    )
    p.add_argument(
        "--batch-size",
        type=_positive,
        default=None,
        help="images per forward pass (default: the task's, 64)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_precision(p)


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
        "result keeps the input's luminance (L in Lab): the model predicts only the colors, at "
        "its own size, and they are scaled to the input's size. " + _BATCH_TEXT,
    )
    p.add_argument("--image", required=True, metavar="IN", help="an image file or a folder of them")
    _add_restore_options(p, "faces-colorize-64")


@dataclasses.dataclass
class _Item:
    """One file of a batch job: where it comes from and goes, and its mask (or why none)."""

    src: Path
    out: Path
    mask: Path | None = None
    mask_problem: str | None = None  # set when a mask folder has no (single) mask for src


def _add_complete(sub) -> None:
    from .data.masks import KEEP_REGIONS

    p = sub.add_parser(
        "complete",
        help="draw whole faces around a small visible region",
        description="Complete a face from a small visible region (e.g. only the left eye): "
        "searches the generator's latent space for faces that match the visible pixels and "
        "writes the best --samples of them, best fit first, as OUT/<stem>-0.png, -1.png, ... "
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
    p.add_argument("--samples", type=_positive, default=4, help="completions per image (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, metavar="OUT", help="output folder")
    p.add_argument("--model", default="faces-gan-64", help="a gan or vae model (faces-gan-64)")
    p.add_argument("--overwrite", action="store_true", help="batch jobs: redo finished images")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_precision(p)
    p.set_defaults(batch_size=1)


class _CompleteJob:
    """Adapts ``Generator.complete`` to the batch machinery: one input -> several files."""

    family = "complete"
    takes_mask = True
    batch_size = 1

    def __init__(self, gen, keep: str | None, samples: int, seed: int):
        self.gen, self.keep, self.samples, self.seed = gen, keep, samples, seed

    def prepare(self, src, mask):
        from .tasks import open_image_and_mask

        return open_image_and_mask(src, self.keep or mask, regions=True)

    def batch_prepared(self, items):
        from .tasks import Completer

        completer = Completer(self.gen)
        return [
            completer.complete_prepared(rgb, miss, self.samples, self.seed)[0]
            for rgb, miss in items
        ]

    def output_paths(self, out: Path) -> list[Path]:
        return [out.with_name(f"{out.stem}-{i}.png") for i in range(self.samples)]


def _cmd_complete(a) -> int:
    from .tasks import Generator

    src = Path(a.image)
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    mask = Path(a.mask) if a.mask else None
    if mask is not None and not mask.exists():
        raise UserError(f"{mask}: no such mask file or folder")
    if mask is not None and mask.is_dir() != src.is_dir():
        raise UserError("--image and --mask must both be files or both be folders")
    gen = _load_restorer(a.model, "complete", Generator, a.precision)
    job = _CompleteJob(gen, a.keep, a.samples, a.seed)
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; complete writes several images into a folder")
    if _same(out, src) or _same(out, mask):
        raise UserError(f"--out {out} is an input folder; choose another folder")
    _make_folder(out)
    if src.is_dir():
        return _run_batch(job, _batch_items(src, mask, out), a)
    result = job.batch_prepared([job.prepare(src, mask)])[0]
    _save_result(job, result, out / f"{src.stem}.png")
    print(
        f"wrote {len(result)} completions to {out}/ ({src.stem}-0.png ... {src.stem}-{len(result) - 1}.png)"
    )
    return 0


def _cmd_inpaint(a) -> int:
    from .tasks import Inpainter

    return _restore(a, "inpaint", Inpainter, a.mask)


def _cmd_colorize(a) -> int:
    from .tasks import Colorizer

    return _restore(a, "colorize", Colorizer, None)


def _restore(a, family: str, task_class: type, mask_arg: str | None) -> int:
    src = Path(a.image)
    mask = Path(mask_arg) if mask_arg else None
    if not src.exists():
        raise UserError(f"{src}: no such file or folder")
    if mask is not None and not mask.exists():
        raise UserError(f"{mask}: no such mask file or folder")
    if src.is_dir():
        if mask is not None and not mask.is_dir():
            raise UserError(
                f"--image {src} is a folder but --mask {mask} is a file; a batch job needs a "
                "folder of masks named like the images"
            )
        out = _batch_out(src, mask, a.out)
        items = _batch_items(src, mask, out)
        task = _load_restorer(a.model, family, task_class, a.precision)
        _make_folder(out)
        return _run_batch(task, items, a)
    if mask is not None and mask.is_dir():
        raise UserError(
            f"--image {src} is a file but --mask {mask} is a folder; give one mask file, or a "
            "folder of images for a batch job"
        )
    out = _single_out(src, mask, a.out)
    task = _load_restorer(a.model, family, task_class, a.precision)
    if a.batch_size is not None:
        task.batch_size = a.batch_size
    _make_folder(out.parent)
    result = task.batch_prepared([_prepare(task, src, mask)])[0]
    _save_result(task, result, out)
    written = _outputs(task, out)
    print(f"wrote {written[0]}" + (f" ... {written[-1].name}" if len(written) > 1 else ""))
    return 0


def _prepare(task, src: Path, mask: Path | None):
    """Validate one input with the task's own checks (an inpainter also takes the mask)."""
    return task.prepare(src, mask) if getattr(task, "takes_mask", False) else task.prepare(src)


def _outputs(task, out: Path) -> list[Path]:
    """The files one input becomes: ``out`` itself, or numbered files for several results."""
    return task.output_paths(out) if hasattr(task, "output_paths") else [out]


def _save_result(task, result, out: Path) -> None:
    from .images import save_image

    results = result if isinstance(result, list) else [result]
    for img, path in zip(results, _outputs(task, out)):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(img, path)


def _load_restorer(model: str, family: str, task_class: type, precision: str | None):
    """Load ``model`` once and check that it is a ``family`` model."""
    from .tasks import load

    task = load(model, precision=precision or "auto")
    if not isinstance(task, task_class):
        raise UserError(
            f"{model}: is a '{task.family}' model; {family} needs an '{family}' model "
            f"(--model NAME or a .safetensors path)"
        )
    return task


def _same(a: Path | None, b: Path | None) -> bool:
    return a is not None and b is not None and a.resolve() == b.resolve()


def _inside(path: Path, folder: Path | None) -> bool:
    """Whether ``path`` lies under ``folder`` (or is it)."""
    return folder is not None and path.resolve().is_relative_to(folder.resolve())


def _single_out(src: Path, mask: Path | None, out_arg: str) -> Path:
    """OUT for one input file: OUT itself, or OUT/<stem>.png when OUT is (or ends like) a folder."""
    from .images import IMAGE_SUFFIXES

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
    if _same(out, src) or _same(out, mask):
        raise UserError(f"{out}: is an input file; write the result to another file")
    return out


def _batch_out(src: Path, mask: Path | None, out_arg: str) -> Path:
    """OUT for a folder of inputs: a folder that is neither the input nor the mask folder."""
    from .images import IMAGE_SUFFIXES

    out = Path(out_arg)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; with a folder of images, OUT must be a folder")
    if not out.exists() and out.suffix.lower() in IMAGE_SUFFIXES:
        raise UserError(
            f"--out {out} looks like an image file; with a folder of images, OUT must be a folder"
        )
    if _same(out, src) or _same(out, mask):
        raise UserError(
            f"--out {out} is an input folder; results would overwrite the inputs, so choose "
            "another folder"
        )
    if _same(mask, src):
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


def _scan(root: Path, exclude: list[Path | None]) -> list[Path]:
    """Image files under ``root`` (see ``scan_images``) minus those under ``exclude`` folders."""
    from .data.folder import scan_images

    inside = [e for e in exclude if e is not None and _inside(e, root) and not _same(e, root)]
    files = [p for p in scan_images(root) if not any(_inside(p, e) for e in inside)]
    if not files:
        raise UserError(f"{root}: the folder has no images besides the output and mask folders")
    return files


def _batch_items(src: Path, mask: Path | None, out: Path) -> list[_Item]:
    """One item per image under ``src``; outputs at the same relative path under ``out``.

    A mask folder is matched by relative folder and file stem (any image suffix); when
    several masks share a stem, the one with the image's own suffix wins.
    """
    files = _scan(src, [out, mask])
    masks: dict[tuple[str, str], list[Path]] = {}
    if mask is not None:
        for m in _scan(mask, [out, src]):
            rel = m.relative_to(mask)
            masks.setdefault((rel.parent.as_posix(), rel.stem), []).append(m)
    items = []
    for f in files:
        rel = f.relative_to(src)
        item = _Item(src=f, out=out / rel)
        if mask is not None:
            found = masks.get((rel.parent.as_posix(), rel.stem), [])
            same = [m for m in found if m.name == rel.name]
            if len(found) == 1 or same:
                item.mask = (same or found)[0]
            elif not found:
                item.mask_problem = (
                    f"no mask found (looked for {mask / rel.parent / rel.stem}.png/.jpg/...)"
                )
            else:
                names = ", ".join(m.name for m in found)
                item.mask_problem = f"several masks match ({names}); keep one"
        items.append(item)
    return items


def _reason(exc: BaseException, *names: object) -> str:
    """One line for a failed file, without the file name the message may start with."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, UserError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    for n in names:
        if n is not None and text.startswith(f"{n}: "):
            text = text[len(f"{n}: ") :]
    return text[:300]


CHUNK_BYTES = 512 * 2**20  # decoded input held at once by a batch job (about 170 MP of RGB)


def _nbytes(prepared) -> int:
    """Bytes of the numpy arrays in one prepared input (an array or a tuple of them)."""
    import numpy as np

    parts = prepared if isinstance(prepared, (tuple, list)) else [prepared]
    return sum(x.nbytes for x in parts if isinstance(x, np.ndarray))


def _run_batch(task, items: list[_Item], a) -> int:
    """Restore ``items`` in chunks of --batch-size; print a summary; 1 if any file failed."""
    from tqdm import tqdm

    debug = bool(os.environ.get("GENRESTORE_DEBUG"))
    if a.batch_size is not None:
        task.batch_size = a.batch_size
    todo = items
    if not a.overwrite:
        todo = [it for it in items if not all(p.exists() for p in _outputs(task, it.out))]
    done_before = len(items) - len(todo)
    failed: list[tuple[_Item, str]] = []
    restored = 0

    def fail(item: _Item, exc: BaseException) -> None:
        if debug and not isinstance(exc, UserError):
            raise exc
        failed.append((item, _reason(exc, item.src)))
        bar.update(1)

    def prepare(item: _Item):
        if item.mask_problem:
            raise UserError(item.mask_problem)
        return _prepare(task, item.src, item.mask)

    def restore(ready: list) -> int:
        """Run one forward pass over ``ready`` [(item, prepared)] and save; returns files saved."""
        try:
            results = task.batch_prepared([p for _, p in ready])
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the job
            if len(ready) == 1:
                fail(ready[0][0], exc)
                return 0
            return sum(restore([r]) for r in ready)  # find the file that breaks the batch
        saved = 0
        for (item, _), img in zip(ready, results):
            try:
                _save_result(task, img, item.out)
            except Exception as exc:  # noqa: BLE001 - e.g. disk full: record it, go on
                fail(item, exc)
                continue
            saved += 1
            bar.update(1)
        return saved

    size = task.batch_size
    bar = tqdm(total=len(todo), desc="restoring", unit="img", disable=a.no_progress)
    try:
        ready, held = [], 0
        for item in todo:
            try:
                prepared = prepare(item)
            except Exception as exc:  # noqa: BLE001 - decoders raise many types
                fail(item, exc)
                continue
            ready.append((item, prepared))
            held += _nbytes(prepared)
            # a chunk ends at --batch-size files or CHUNK_BYTES of decoded pixels, whichever
            # comes first: 64 small faces share a forward pass, 64 big photos do not
            if len(ready) >= size or held >= CHUNK_BYTES:
                restored += restore(ready)
                ready, held = [], 0
        if ready:
            restored += restore(ready)
    except KeyboardInterrupt:
        bar.close()
        print(f"restored {restored} before the interruption; run again to resume", file=sys.stderr)
        raise
    bar.close()
    print(
        f"restored {restored}, skipped {done_before} already done, failed {len(failed)}",
        file=sys.stderr,
    )
    for item, reason in failed:
        print(f"  FAILED {item.src}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a model on held-out faces; prints one JSON object",
        description="Evaluate on held-out built-in faces (indices >= 1,000,000) at the model's "
        "size. gan/vae: multi-scale sliced Wasserstein distance (SWD x1e3) of n samples against "
        "n held-out faces, next to the real-vs-real floor at the same count. inpaint: PSNR and "
        "SSIM per mask kind (box, stroke, large, keep; fixed masks from --seed), next to the "
        "OpenCV Telea and biharmonic baselines. colorize: PSNR and SSIM of the colors, next to "
        "the gray image, and the luminance error in gray levels. inpaint/colorize need "
        "pip install 'genrestore[eval]'. FID needs Inception weights, which genrestore never "
        "downloads: pass a local file with --inception (not yet supported; SWD is the metric "
        "here).",
    )
    p.add_argument("family", choices=["gan", "vae", "inpaint", "colorize", "complete"])
    p.add_argument(
        "--model", default=None, help="shipped model name or path (default faces-FAMILY-64)"
    )
    p.add_argument(
        "-n",
        type=_positive,
        default=None,
        help="held-out faces (and samples) to use (default 256; 64 for complete)",
    )
    p.add_argument("--data", default="avatars", help="held-out data: 'avatars' or a folder")
    p.add_argument("--seed", type=int, default=0, help="latents (gan/vae) or masks (inpaint)")
    p.add_argument("--inception", default=None, help="local Inception weights file for FID")
    _add_precision(p)


def _cmd_eval(a) -> int:
    if a.inception:
        raise UserError("FID is not implemented yet; SWD is reported without --inception")
    from . import evaluate
    from .tasks import load

    name = a.model or ("faces-gan-64" if a.family == "complete" else f"faces-{a.family}-64")
    task = load(name, precision=a.precision or "auto")
    wanted = ("gan", "vae") if a.family == "complete" else (a.family,)
    if task.family not in wanted:
        raise UserError(f"{name}: is a {task.family} model, not {' or '.join(wanted)}")
    run = evaluate.EVALUATORS[a.family]
    n = a.n or (64 if a.family == "complete" else 256)
    print(json.dumps(run(task, n, data=a.data, seed=a.seed), sort_keys=True))
    return 0


def _cmd_models(a) -> int:
    from .tasks import list_models

    models = list_models()
    if a.json:
        print(json.dumps(models, indent=2))
        return 0
    if not models:
        print("no shipped models found")
        return 0
    for m in models:
        c = m["card"]
        bits = [c.get("family", "?"), f"{c.get('steps', '?')} steps"]
        ev = c.get("eval", c)  # shipped cards keep their measurements under "eval"
        if "swd" in ev:
            bits.append(f"SWD {ev['swd']} (real-vs-real floor {ev.get('swd_floor', '?')})")
        if "kinds" in ev:
            bits += [f"{k} {v['model']['psnr']} dB" for k, v in ev["kinds"].items()]
        if "methods" in ev:
            bits.append(f"PSNR {ev['methods']['model']['psnr']} dB")
        print(f"{m['name']:<22} {'  '.join(map(str, bits))}")
        print(f"{'':<22} {m['path']}")
    return 0


def _cmd_demo(a) -> int:
    import importlib.util
    import time

    started = time.perf_counter()
    if importlib.util.find_spec("gradio") is None:
        raise UserError("the demo needs Gradio: pip install 'genrestore[demo]'")
    if not 1 <= a.port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {a.port}")
    if a.precision:  # every model the demo loads reads it from there
        from .compute import PRECISION_ENV

        os.environ[PRECISION_ENV] = a.precision
    # demos/ sits beside the package in a source checkout; it is not an installed module.
    path = Path(__file__).resolve().parent.parent / "demos" / "app.py"
    if not path.is_file():
        raise UserError(f"{path}: the demo app is missing; run from a source checkout")
    spec = importlib.util.spec_from_file_location("genrestore_demo_app", path)
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    app.main(host=a.host, port=a.port, started=started)
    return 0


def _cmd_env(a) -> int:
    from .compute import environment_report

    report = environment_report(a.device, a.precision or "auto")
    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        print(f"{key + ':':<22} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="genrestore",
        description="Learn a face distribution, then generate, inpaint, complete and colorize faces.",
    )
    parser.add_argument("--version", action="version", version=f"genrestore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)
    _add_generate(sub)
    _add_inpaint(sub)
    _add_colorize(sub)
    _add_complete(sub)
    _add_eval(sub)
    p = sub.add_parser("models", help="list the shipped models with their cards")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p = sub.add_parser(
        "demo",
        help="start the Gradio web demo",
        description="Serve the web demo (generate, inpaint, colorize, complete) on the shipped "
        "models. Needs pip install 'genrestore[demo]'. Binds 127.0.0.1 (this machine only) "
        "unless --host says otherwise.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    _add_precision(p)
    p = sub.add_parser(
        "env",
        help="what a bug report needs: versions, CPU, and the compute settings chosen here",
        description="Print genrestore, torch and Python versions, the CPU (model, ISA level, "
        "native bf16), threads, the device, the precision and memory layout chosen for "
        "inference and for training (and why), and a measured speed: faces/s for a 64-face "
        "generation with the shipped GAN.",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    _add_precision(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


COMMANDS = {
    "train": _cmd_train,
    "generate": _cmd_generate,
    "inpaint": _cmd_inpaint,
    "colorize": _cmd_colorize,
    "complete": _cmd_complete,
    "eval": _cmd_eval,
    "models": _cmd_models,
    "demo": _cmd_demo,
    "env": _cmd_env,
}


def _rank_tag() -> str:
    """ "[rank 1] " under torchrun with several processes (each prints its own error)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return f"[rank {os.environ.get('RANK', '?')}] "
    return ""


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="genrestore: %(message)s", level=logging.INFO, stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        if args.command in PLANNED:
            raise UserError(
                f"'{args.command}' comes with {PLANNED[args.command]}; not in this version"
            )
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"genrestore: error: {_rank_tag()}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genrestore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("GENRESTORE_DEBUG"):
            raise
        from .training import TrainingDiverged

        kind = (
            "" if isinstance(exc, TrainingDiverged) else f"internal error ({type(exc).__name__}): "
        )
        print(f"genrestore: error: {_rank_tag()}{kind}{exc}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
