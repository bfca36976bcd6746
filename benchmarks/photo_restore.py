"""Photo restoration: quality against the classical baselines, and speed at real sizes.

    python benchmarks/photo_restore.py [--n 12] [--skip-quality] [--data photos]

Quality (scikit-image's sample photos at their own size, up to 768 px; never trained on;
``--data photos``: the photo set's validation photos instead):
box (20-30 % of each side) and thick-stroke inpainting, PSNR / SSIM / fill detail, for the
photo inpainter (photos-inpaint, or the network-free pull-push while none is shipped), the
64-px face model (what a user got before the photo path), OpenCV Telea and scikit-image
biharmonic; colorization PSNR for both models and the gray image.

Speed (the default ``--model auto`` path, which first asks the face VAE): one photo of
512x512, 768x512 and 1024x768 inpainted (box) and colorized, best of 3, on this CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from inference_speed import best_of  # benchmarks/ is the script's folder, on sys.path
from PIL import Image


def cpu_name() -> str:
    from genrestore.compute import cpu_model

    isa = torch.backends.cpu.get_cpu_capability()
    return f"{cpu_model() or platform.processor()} ({isa})"


def quality(n: int, data: str = "skimage") -> None:
    from genrestore.evaluate import evaluate_colorizer, evaluate_inpainter
    from genrestore.tasks import list_models, load
    from genrestore.tasks.auto import photo_model

    rows = {}
    for name in (photo_model("inpaint"), "faces-inpaint-64"):
        report = evaluate_inpainter(load(name), n, data=data)
        for kind, methods in report["kinds"].items():
            rows.setdefault(kind, {})[name] = methods["model"]
            for base in ("telea", "biharmonic"):
                rows[kind][base] = methods[base]
    print(f"inpainting, {data}, {n} photo/mask pairs per kind (PSNR dB / SSIM / fill detail):")
    for kind, methods in rows.items():
        telea = methods["telea"]["psnr"]
        for name, m in methods.items():
            print(
                f"  {kind:6s} {name:17s} {m['psnr']:6.2f} / {m['ssim']:.3f} / {m['detail']:.2f}"
                f"   {m['psnr'] - telea:+.2f} dB vs Telea   {m['sec_per_image']:.2f} s/image"
            )
    print(f"colorization, {data} (PSNR dB, luminance error in gray levels):")
    gray = None
    shipped = {m["name"] for m in list_models()}
    for name in [n for n in ("photos-colorize", "faces-colorize-64") if n in shipped]:
        report = evaluate_colorizer(load(name), data=data)
        gray = report["methods"]["gray"]
        m = report["methods"]["model"]
        print(
            f"  {name:17s} {m['psnr']:6.2f}  {m['psnr'] - gray['psnr']:+.2f} dB vs gray  "
            f"(L error {m['luminance_error']:.2f})"
        )
    print(f"  {'gray':17s} {gray['psnr']:6.2f}")


def speed() -> None:
    import skimage.data

    from genrestore.evaluate import photo_mask
    from genrestore.tasks import auto

    inpainter, colorizer = auto("inpaint"), auto("colorize")
    photo = Image.fromarray(skimage.data.coffee())
    print(f"speed, --model auto, {torch.get_num_threads()} threads:")
    for w, h in ((512, 512), (768, 512), (1024, 768)):
        rgb = np.asarray(photo.resize((w, h), Image.LANCZOS))
        missing = photo_mask("box", h, w, np.random.default_rng(0))
        gray = np.asarray(Image.fromarray(rgb).convert("L"))
        inpainter.batch_prepared([(rgb, missing)])  # warm-up
        colorizer.batch_prepared([gray])
        t_in = best_of(lambda rgb=rgb, m=missing: inpainter.batch_prepared([(rgb, m)]), 3)
        t_col = best_of(lambda g=gray: colorizer.batch_prepared([g]), 3)
        chosen = [
            Path(task.pick(x).name if hasattr(task, "pick") else task.name).stem
            for task, x in ((inpainter, (rgb, missing)), (colorizer, gray))
        ]
        print(f"  {w}x{h}: inpaint {t_in:.3f} s, colorize {t_col:.3f} s  ({', '.join(chosen)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12, help="photo/mask pairs per mask kind")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument(
        "--data",
        default="skimage",
        help="'skimage' (the test photos) or 'photos' (the photo set's validation photos)",
    )
    args = ap.parse_args()
    print(json.dumps({"cpu": cpu_name(), "torch": torch.__version__}))
    if not args.skip_quality:
        quality(args.n, args.data)
    speed()


if __name__ == "__main__":
    main()
