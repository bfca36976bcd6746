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

PLANNED = {
    "inpaint": "the restore issue (inpainting model)",
    "colorize": "the restore issue (colorization model)",
    "complete": "the completion issue (GAN-prior completion)",
    "demo": "the demo issue (Gradio app)",
}


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit 2 (no usage dump)."""

    def error(self, message: str):  # subparsers inherit this class
        self.exit(2, f"genrestore: error: {message} (see '{self.prog} --help')\n")


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _add_train(sub) -> None:
    from .config import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a model family on the built-in faces or a folder",
        description="Train a model. Defaults come from the preset; flags override them. "
        "Writes a resumable run directory (config.json, checkpoint.safetensors, log.txt, "
        "sample grids).",
    )
    p.add_argument("family", choices=["gan", "vae", "inpaint", "colorize"])
    p.add_argument("--data", default=None, help="'avatars' (built-in faces, default) or a folder of images")
    p.add_argument("--count", type=_positive, default=None, help="built-in faces to train on")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (16..256, power of two)")
    p.add_argument("--preset", default=None, help="preset name (see --dry-run); default gan-64 / vae-64")
    p.add_argument("--steps", type=_positive, default=None, help=f"training steps (default {d.steps})")
    p.add_argument("--batch", type=_positive, default=None, help=f"batch size (default {d.batch})")
    p.add_argument("--save-every", type=_positive, default=None, help=f"checkpoint every N steps ({d.save_every})")
    p.add_argument("--sample-every", type=_positive, default=None, help=f"sample grid every N steps ({d.sample_every})")
    p.add_argument("--out", default=None, help="run directory (default runs/FAMILY-SIZE-TIME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config as JSON and exit")
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default auto)")
    p.add_argument("--precision", default=None, choices=["auto", "fp32", "bf16", "fp16"])
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_train(a) -> int:
    from .config import DEFAULT_PRESET, preset, with_size

    if a.family in ("inpaint", "colorize"):
        raise UserError(f"training '{a.family}' comes with {PLANNED[a.family]}; not in this version")
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
        "steps": a.steps, "batch": a.batch, "save_every": a.save_every,
        "sample_every": a.sample_every, "out": a.out, "device": a.device,
        "precision": a.precision, "seed": a.seed,
    }
    from .training import resolve_config

    if a.resume and not a.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    resolved = resolve_config(cfg, **overrides)
    if cfg.data.source != "avatars" and not Path(cfg.data.source).is_dir():
        raise UserError(f"{cfg.data.source}: no such folder (use --data avatars or a folder of images)")
    if a.dry_run:
        print(resolved.to_json())
        return 0
    from .training import train

    run_dir = train(resolved, resume=a.resume, progress=not a.no_progress)
    print(f"run saved in {run_dir}")
    return 0


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample new faces from a GAN or VAE",
        description="Sample faces. OUT ending in .png/.jpg writes one grid; any other OUT is a "
        "folder that gets one file per face (face-0000.png, ...).",
    )
    p.add_argument("--model", default="faces-gan-64", help="shipped model name or .safetensors path")
    p.add_argument("-n", type=_positive, default=16, help="number of faces (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=None, help="(0, 1]: less variety, cleaner faces")
    p.add_argument("--interpolate", type=int, default=None, metavar="SEED_B",
                   help="instead of n faces, interpolate from --seed to this seed in n steps")
    p.add_argument("--out", required=True)


def _cmd_generate(a) -> int:
    from .images import image_grid, save_image
    from .tasks import Generator, load

    gen = load(a.model)
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


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a model on held-out faces; prints one JSON object",
        description="Evaluate on held-out built-in faces (indices >= 1,000,000). For gan/vae: "
        "multi-scale sliced Wasserstein distance (SWD x1e3) of n samples against n held-out "
        "faces, next to the real-vs-real floor at the same count. FID needs Inception weights, "
        "which genrestore never downloads: pass a local file with --inception (not yet "
        "supported; SWD is the metric here).",
    )
    p.add_argument("family", choices=["gan", "vae", "inpaint", "colorize", "complete"])
    p.add_argument("--model", default=None, help="shipped model name or path (default faces-FAMILY-64)")
    p.add_argument("-n", type=_positive, default=256, help="samples and held-out faces (default 256)")
    p.add_argument("--data", default="avatars", help="held-out data: 'avatars' or a folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inception", default=None, help="local Inception weights file for FID")


def _cmd_eval(a) -> int:
    if a.family not in ("gan", "vae"):
        raise UserError(f"eval {a.family} comes with {PLANNED.get(a.family, 'a later issue')}")
    if a.inception:
        raise UserError("FID is not implemented yet; SWD is reported without --inception")
    from .evaluate import evaluate_generator
    from .tasks import load

    gen = load(a.model or f"faces-{a.family}-64")
    print(json.dumps(evaluate_generator(gen, a.n, data=a.data, seed=a.seed), sort_keys=True))
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
        if "swd" in c:
            bits.append(f"SWD {c['swd']} (floor {c.get('swd_floor', '?')})")
        print(f"{m['name']:<22} {'  '.join(map(str, bits))}")
        print(f"{'':<22} {m['path']}")
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
    p = sub.add_parser("inpaint", help="fill the missing region of an image (mask: white = missing)")
    p.add_argument("--image", required=True)
    p.add_argument("--mask", required=False)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="faces-inpaint-64")
    p = sub.add_parser("colorize", help="color a grayscale image (color input is made gray first)")
    p.add_argument("--image", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="faces-colorize-64")
    p = sub.add_parser("complete", help="draw whole faces around a small visible region")
    p.add_argument("--image", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--mask")
    g.add_argument("--keep", choices=["left-eye", "right-eye", "eyes", "mouth", "top-half", "left-half"])
    p.add_argument("--samples", type=_positive, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="faces-gan-64")
    _add_eval(sub)
    p = sub.add_parser("models", help="list the shipped models with their cards")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p = sub.add_parser("demo", help="start the Gradio web demo")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    return parser


COMMANDS = {"train": _cmd_train, "generate": _cmd_generate, "eval": _cmd_eval, "models": _cmd_models}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="genrestore: %(message)s", level=logging.INFO, stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        if args.command in PLANNED:
            raise UserError(f"'{args.command}' comes with {PLANNED[args.command]}; not in this version")
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"genrestore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genrestore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("GENRESTORE_DEBUG"):
            raise
        from .training import TrainingDiverged

        kind = "" if isinstance(exc, TrainingDiverged) else f"internal error ({type(exc).__name__}): "
        print(f"genrestore: error: {kind}{exc}".splitlines()[0], file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
