"""Export a training run as a shipped model: fp16 weights + a model card with its measured quality.

    python benchmarks/ship_model.py runs/faces-gan-64 faces-gan-64 [-n 256]
    python benchmarks/ship_model.py runs/encoder-64 faces-gan-64-encoder -n 128
    python benchmarks/ship_model.py checkpoints/faces-upscale-256.safetensors \
        faces-upscale-256 --set core=0.015 --note "..."   # new inference settings only

Writes checkpoints/NAME.safetensors and checkpoints/NAME.json (data, steps, wall time,
hardware, and the `genrestore eval` numbers of the exported fp16 model), and prints the card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

import genrestore
from genrestore.checkpoint import Checkpoint, load_checkpoint, save_checkpoint, save_fp16
from genrestore.evaluate import evaluate_completer
from genrestore.families import family, resolve
from genrestore.tasks import export
from genrestore.tasks.runs import is_run_checkpoint


def reexport(ck: Checkpoint, out: Path, note: str, settings: dict) -> dict:
    """A shipped model (its loaded checkpoint) written again with new inference ``settings``
    (model-config fields) and the same weights, bit for bit; its card keeps how it was
    trained, records the settings and appends ``note``. Returns the card (its eval is
    measured afterwards)."""
    cfg = dataclasses.replace(family(ck.family).config(**ck.config), **settings)
    card = {k: v for k, v in ck.card.items() if k not in ("eval", "eval_seconds")}
    card["name"] = out.stem
    card["settings_at_export"] = {**card.get("settings_at_export", {}), **settings}
    card["eval_hardware"] = hardware()
    if note:
        card["note"] = f"{card.get('note', '')} Re-exported: {note}".strip()
    save_fp16(Checkpoint(ck.family, dataclasses.asdict(cfg), ck.step, card, ck.tensors), out)
    return card


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu}, {torch.get_num_threads()} threads{gpu}; torch {torch.__version__}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "run_dir", help="a run folder or its checkpoint file, or a shipped model to re-export"
    )
    ap.add_argument("name")
    ap.add_argument(
        "-n", type=int, default=None, help="held-out images (default: the evaluation's own)"
    )
    ap.add_argument(
        "--kinds", default=None, help="inpainting: the mask kinds to measure (e.g. box,stroke)"
    )
    ap.add_argument("--note", default="", help="a remark for the card (how it was trained)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a model-config field for inference, e.g. chroma=0.25 (recorded in the card)",
    )
    ap.add_argument(
        "--out-dir", default=str(Path(__file__).resolve().parent.parent / "checkpoints")
    )
    args = ap.parse_args()

    out = Path(args.out_dir) / f"{args.name}.safetensors"
    extra = {"name": args.name, "hardware": hardware()}
    if args.note:
        extra["note"] = args.note
    settings = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    source = Path(args.run_dir)
    shipped = load_checkpoint(source) if source.is_file() else None
    if shipped is not None and not is_run_checkpoint(shipped):  # a shipped model
        card = reexport(shipped, out, args.note, settings)
    else:
        card = export(source, out, extra, settings)
    if out.stat().st_size > 15 * 2**20:
        size = out.stat().st_size / 2**20
        out.unlink()
        out.with_suffix(".json").unlink()
        raise SystemExit(f"{out.name} would be {size:.1f} MB, over the 15 MB budget: not shipped")
    task = genrestore.load(out)
    t = time.perf_counter()
    fam = family(card["family"])
    sized = {"n": args.n} if args.n else {}
    if args.kinds:
        sized["kinds"] = args.kinds
    if fam.name in fam.evaluations:
        metrics = resolve(fam.evaluations[fam.name])(task, **sized)
    else:  # a completion encoder: measured as its generator completes with it beside it
        gen = genrestore.load(Path(args.out_dir) / f"{task.config.generator}.safetensors")
        assert gen.encoder is not None, f"{out.name} must be named {task.config.generator}-encoder"
        metrics = evaluate_completer(gen, **sized)
    metrics.pop("model", None)
    card["eval"] = metrics
    card["eval_seconds"] = round(time.perf_counter() - t, 1)
    card["size_bytes"] = out.stat().st_size
    # Re-write the file so the card inside the checkpoint matches the JSON beside it.
    ck = load_checkpoint(out)
    save_checkpoint(out, ck.tensors, family=ck.family, config=ck.config, step=ck.step, card=card)
    out.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    print(json.dumps(card, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
