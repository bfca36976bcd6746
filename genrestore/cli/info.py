"""``genrestore models`` and ``genrestore env``: what is installed and how it will run."""

from __future__ import annotations

import argparse
import json


# Two parser builders, not one add_parser: --help has always listed demo between the two.
def add_models_parser(sub) -> None:
    p = sub.add_parser("models", help="list the shipped models with their cards")
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def add_env_parser(sub) -> None:
    from .options import add_precision

    p = sub.add_parser(
        "env",
        help="what a bug report needs: versions, CPU, and the compute settings chosen here",
        description="Print genrestore, torch and Python versions, the CPU (model, ISA level, "
        "native bf16), threads, the device, the precision and memory layout chosen for "
        "inference and for training (and why), and a measured speed: faces/s for a 64-face "
        "generation with the shipped GAN.",
    )
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    add_precision(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    return _models(args) if args.command == "models" else _env(args)


def _models(args: argparse.Namespace) -> int:
    from ..tasks import list_models

    models = list_models()
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    if not models:
        print("no shipped models found")
        return 0
    for m in models:
        print(f"{m['name']:<24} {'  '.join(map(str, _card_summary(m['card'])))}")
        print(f"{'':<24} {m['path']}")
    from ..tasks.restore import PULL_PUSH

    print(
        f"{PULL_PUSH:<24} inpaint  built in, no weights: photos at their own size, coarse to fine"
    )
    print(f"{'auto':<24} inpaint/colorize: the face model or the photo path, per image")
    return 0


def _card_summary(card: dict) -> list:
    """The family, the steps and the headline measurements of a model card."""
    bits = [card.get("family", "?"), f"{card.get('steps', '?')} steps"]
    ev = card.get("eval", card)  # shipped cards keep their measurements under "eval"
    if "swd" in ev:
        bits.append(f"SWD {ev['swd']} (real-vs-real floor {ev.get('swd_floor', '?')})")
    if "kinds" in ev:
        bits += [f"{k} {v['model']['psnr']} dB" for k, v in ev["kinds"].items()]
    if "methods" in ev:
        bits.append(f"PSNR {ev['methods']['model']['psnr']} dB")
    if "swd_ratio" in ev and "sec_per_image" in ev:  # a completion encoder
        bits.append(
            f"completions' SWD {ev['swd_ratio']}x plain samples, {ev['sec_per_image']} s/image"
        )
    return bits


def _env(args: argparse.Namespace) -> int:
    from ..compute import environment_report

    report = environment_report(args.device, args.precision or "auto")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        print(f"{key + ':':<22} {value}")
    return 0
