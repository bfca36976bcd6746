"""Can a PatchGAN critic tell the upscaler's drawing from true detail? A probe, no training of
the upscaler.

    python benchmarks/critic_probe.py [--steps 300] [--views image,detail] [--crops 2048]

For each critic view a fresh PatchGAN (the upscale recipe's: spectral norm on every layer)
trains alone with the hinge loss: real 128-px crops of the built-in training faces at 256 px
against the shipped upscaler's drawing of their Lanczos shrink. The views:

- ``image``: the crop's pixels (what the upscale recipe's critic sees);
- ``detail``: ``DETAIL_GAIN`` x the crop minus the bicubic upscale of its own shrink, the
  part an upscaler draws.

Then it scores held-out faces at 256 px and prints each input's mean logit (sd over images)
and the separation of real from drawn in units of the real images' sd. Inputs: real faces;
their shrink upscaled (drawn); faces-gan-64 samples upscaled; bicubic; real plus Gaussian
noise of sd 0.05, which a useful critic should not rate above real.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from genrestore import load, losses
from genrestore.data.avatars import load_faces
from genrestore.evaluate import held_out_images
from genrestore.images import uint8_to_tensor
from genrestore.models.patchgan import PatchGAN
from genrestore.tasks.generate import latents
from genrestore.training.recipes.upscale import lanczos_shrink

DETAIL_GAIN = 8.0
CROP = 128


def view(x: torch.Tensor, kind: str) -> torch.Tensor:
    """(N, 3, H, W) -> what the critic sees of it (see the module docstring)."""
    if kind == "image":
        return x
    low = F.interpolate(lanczos_shrink(x, 4), scale_factor=4, mode="bicubic")
    return DETAIL_GAIN * (x - low)


def crops(faces: np.ndarray, n: int, g: torch.Generator) -> torch.Tensor:
    """n random CROP-px crops (aligned to 4 px) of uint8 faces (N, S, S, 3) -> (n, 3, CROP, CROP)."""
    cells = (faces.shape[1] - CROP) // 4 + 1
    out = []
    for i in torch.randint(len(faces), (n,), generator=g).tolist():
        y, x = (torch.randint(cells, (2,), generator=g) * 4).tolist()
        out.append(np.ascontiguousarray(faces[i, y : y + CROP, x : x + CROP]))
    return uint8_to_tensor(np.stack(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--views", default="image,detail")
    ap.add_argument("--crops", type=int, default=2048)
    ap.add_argument("--held-out", type=int, default=64)
    args = ap.parse_args()
    torch.manual_seed(0)
    up, gen = load("faces-upscale-256"), load("faces-gan-64")
    g = torch.Generator().manual_seed(0)
    real = crops(load_faces(3000, 256, progress=False), args.crops, g)
    with torch.no_grad():
        drawn = torch.cat(
            [up.upscale(lanczos_shrink(real[i : i + 128], 4)) for i in range(0, len(real), 128)]
        ).clamp(-1, 1)
        vr = uint8_to_tensor(held_out_images(args.held_out, 256))
        small = lanczos_shrink(vr, 4)
        inputs = {
            "real": vr,
            "drawn": up.upscale(small).clamp(-1, 1),
            "gan drawn": up.upscale(gen.sample(latents(len(vr), gen.nz, 0))).clamp(-1, 1),
            "bicubic": F.interpolate(small, scale_factor=4, mode="bicubic").clamp(-1, 1),
            "real+noise": (vr + 0.05 * torch.randn_like(vr)).clamp(-1, 1),
        }
    print(f"# {args.steps} critic steps of 16 crops; logits on {len(vr)} held-out faces")
    print(f"{'view':8s} {'loss_d':>7s} " + " ".join(f"{k:>16s}" for k in inputs) + "  separation")
    for kind in args.views.split(","):
        torch.manual_seed(1)
        D = PatchGAN(3)
        opt = torch.optim.Adam(D.parameters(), 2e-4, (0.5, 0.999))
        gb, tail, t = torch.Generator().manual_seed(2), [], time.time()
        with torch.no_grad():  # the pool is fixed: its view once, not every step
            real_v, drawn_v = view(real, kind), view(drawn, kind)
        for _ in range(args.steps):
            i = torch.randint(len(real), (16,), generator=gb)
            loss = losses.d_loss_hinge(D(real_v[i])[0], D(drawn_v[i])[0])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tail = (tail + [loss.item()])[-50:]
        D.eval()
        with torch.no_grad():
            m = {k: D(view(x, kind))[0].mean((1, 2, 3)) for k, x in inputs.items()}
        sep = (m["real"].mean() - m["drawn"].mean()) / m["real"].std()
        cells = " ".join(f"{v.mean():+7.3f} ({v.std():.2f})".rjust(16) for v in m.values())
        print(f"{kind:8s} {np.mean(tail):7.3f} {cells}  {sep:+.2f}  [{time.time() - t:.0f} s]")


if __name__ == "__main__":
    main()
