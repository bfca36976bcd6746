"""``genrestore train``: resolve a preset plus flags into a config, then train (or print it).

The only command module that imports ``genrestore.training``, and only when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path

from ..errors import UserError
from ..families import families, family
from .options import add_precision, positive


def add_parser(sub) -> None:
    from ..config import TrainConfig

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
    p.add_argument("family", choices=list(families()))
    p.add_argument(
        "--data",
        default=None,
        help="'avatars' (built-in faces, default), 'photos' (natural photos from Debian "
        "packages: wallpapers, GCompris, Palapeli; cut into crops at many scales) or a "
        "folder of images",
    )
    p.add_argument("--count", type=positive, default=None, help="built-in faces to train on")
    p.add_argument(
        "--size", type=int, default=None, help="image side in pixels (16..256, power of two)"
    )
    p.add_argument(
        "--preset", default=None, help="preset name (see --dry-run); default gan-64 / vae-64"
    )
    p.add_argument(
        "--steps", type=positive, default=None, help=f"training steps (default {d.steps})"
    )
    p.add_argument(
        "--batch",
        type=positive,
        default=None,
        help=f"batch size: with torchrun, of all processes together (default {d.batch})",
    )
    _add_every(p, "--save-every", f"checkpoint every N steps ({d.save_every})")
    _add_every(p, "--sample-every", f"sample grid every N steps ({d.sample_every})")
    _add_every(p, "--log-every", f"log losses and img/s every N steps ({d.log_every})")
    p.add_argument(
        "--init",
        default=None,
        help="start from a trained model of this family (a shipped name such as faces-gan-64, "
        "or a .safetensors) and fine-tune it on --data; the run takes its shape (e.g. a GAN's "
        "size, nz, ngf) where --set or --size names no other, and a GAN's discriminator "
        "starts fresh",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set one field of the model's config (the 'model' part of --dry-run), e.g. "
        "--set lr=2e-4 --set adv_weight=0.01; repeatable; a --resume keeps the run's own",
    )
    p.add_argument("--out", default=None, help="run directory (default runs/FAMILY-SIZE-TIME)")
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out where it stopped"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the resolved config as JSON and exit"
    )
    p.add_argument("--device", default=None, help="auto, cpu or cuda (default auto)")
    add_precision(p)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_every(p: argparse.ArgumentParser, flag: str, text: str) -> None:
    p.add_argument(flag, type=positive, default=None, help=text)


def _config(args: argparse.Namespace):
    """The family's preset (or --preset) with --size, --data and --count applied."""
    from ..config import preset, with_size

    cfg = preset(args.preset or family(args.family).default_preset)
    if cfg.family != args.family:
        raise UserError(f"preset {args.preset!r} is a {cfg.family} preset, not {args.family}")
    if args.size is not None:
        cfg = with_size(cfg, args.size)
    if args.data is not None or args.count is not None:
        cfg = dataclasses.replace(
            cfg,
            data=dataclasses.replace(
                cfg.data,
                source=args.data if args.data is not None else cfg.data.source,
                count=args.count if args.count is not None else cfg.data.count,
            ),
        )
    if args.init is not None:
        if not any(f.name == "init" for f in dataclasses.fields(cfg.model)):
            raise UserError(f"--init: {cfg.family} models cannot start from trained weights")
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, init=args.init))
        cfg = _init_shapes(cfg, args)
    if args.set:
        cfg = _with_model_fields(cfg, args.set)
    return cfg


def _init_shapes(cfg, args: argparse.Namespace):
    """``cfg`` with the fields that shape the weights --init copies (its family's
    ``init_fields``) taken from the starting model, except those --size or --set names: a
    fine-tune of a wider or larger model needs no --set to match it."""
    from ..tasks import model_checkpoint

    named = {item.partition("=")[0].strip() for item in args.set or []}
    if args.size is not None:
        named.add("size")
    todo = [f for f in family(cfg.family).init_fields if f not in named]
    if not todo:
        return cfg
    src = model_checkpoint(args.init)  # its config; no network built, no compute measured
    if src.family != cfg.family:
        return cfg  # the recipe's start_from says what does not match
    own = family(src.family).config_from_dict(src.config)
    shapes = {f: getattr(own, f) for f in todo}
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **shapes))


OWN_FLAGS = {"size": "--size", "init": "--init"}  # model fields that have a flag of their own


def _with_model_fields(cfg, items: list[str]):
    """``cfg`` with fields of its model config set from ``--set NAME=VALUE`` flags, each
    VALUE read as the type of the field's current value (bool, int, float or str)."""
    names = sorted(f.name for f in dataclasses.fields(cfg.model) if f.name not in OWN_FLAGS)
    values = {}
    for item in items:
        name, sep, text = (part.strip() for part in item.partition("="))
        if name in OWN_FLAGS:
            raise UserError(f"--set {name}: use {OWN_FLAGS[name]}")
        if not sep or name not in names:
            raise UserError(
                f"--set {item!r}: expected FIELD=VALUE, FIELD one of the {cfg.family} "
                "model's: " + ", ".join(names)
            )
        current = getattr(cfg.model, name)
        try:
            values[name] = _parse_like(current, text)
        except ValueError:
            kind = {bool: "true or false", int: "an integer", float: "a finite number"}
            wanted = kind.get(type(current), f"settable here ({type(current).__name__})")
            raise UserError(f"--set {name}: {text!r} is not {wanted}") from None
    try:
        return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **values))
    except ValueError as e:  # the config's own checks
        raise UserError(f"--set: {e}") from None


def _parse_like(current, text: str):
    """``text`` as a value of ``current``'s type; ValueError if it is not one."""
    if isinstance(current, bool):
        if text.lower() in ("true", "yes", "1", "false", "no", "0"):
            return text.lower() in ("true", "yes", "1")
        raise ValueError(text)
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    if isinstance(current, str):
        return text
    raise ValueError(text)  # no other field types are settable from the command line


def run(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from ..training import resolve_config

    overrides = {
        "steps": args.steps,
        "batch": args.batch,
        "save_every": args.save_every,
        "sample_every": args.sample_every,
        "log_every": args.log_every,
        "out": args.out,
        "device": args.device,
        "precision": args.precision,
        "seed": args.seed,
    }
    if args.resume and not args.out:
        raise UserError("--resume needs --out RUN_DIR (the run to continue)")
    resolved = resolve_config(cfg, **overrides)
    if cfg.data.source == "photos":
        from ..data.photos import photo_files

        photo_files()  # the packages are there, or one line says which apt-get install
    elif cfg.data.source != "avatars" and not Path(cfg.data.source).is_dir():
        raise UserError(
            f"{cfg.data.source}: no such folder (use --data avatars, photos or a folder of images)"
        )
    if args.dry_run:
        if int(os.environ.get("RANK", "0")) == 0:
            print(resolved.to_json())
        return 0
    from ..training import train

    run_dir = train(resolved, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun: one line, not one per process
        print(f"run saved in {run_dir}")
    return 0
