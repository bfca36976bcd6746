"""Can a fresh discriminator of the gan-64 preset tell faces-gan-64's samples from faces, and
how does its DiffAugment policy change that? A probe: the generator stays frozen.

    python benchmarks/gan_d_probe.py [--steps 200] [--policies "translation,cutout,color;translation;none"]

For each policy the GAN recipe itself runs the warm-up of a fine-tune (``train gan --init
faces-gan-64``, the discriminator's learning rate 1e-4, ``d_warmup`` = all the steps): a fresh
discriminator of the preset (spectral norm, hinge loss, lazy R1 of 0.2 every 4 steps, Adam
betas (0, 0.99), batch 64) trains alone on built-in training faces at 64 px against the
started generator's samples, both augmented by the policy. Then it scores 256 held-out faces
and 256 samples of the shipped generator, without
augmentation, and prints the hinge loss over the last 50 steps, each set's mean logit, the
separation of faces from samples (difference of means over the pooled sd), the accuracy of
the sign, and the mean logit of held-out faces plus Gaussian noise of sd 0.05 (a critic a
generator cannot fool with grain rates them below the faces).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from genrestore import load, presets
from genrestore.compute import Compute
from genrestore.data.avatars import load_faces
from genrestore.evaluate import held_out_images
from genrestore.images import uint8_to_tensor
from genrestore.tasks.generate import latents
from genrestore.training.recipes.gan import GANRecipe

BATCH = 64


def probe(policy: str, steps: int, faces: torch.Tensor, held: torch.Tensor, gen) -> dict:
    """A fine-tune's discriminator warm-up under ``policy`` ("" = none) for ``steps``; its scores."""
    base = presets["gan-64"]
    model = dataclasses.replace(
        base.model, init="faces-gan-64", d_warmup=steps, lr_d=1e-4, diffaugment=policy
    )
    torch.manual_seed(0)
    cpu = Compute(torch.device("cpu"), "fp32", False, torch.get_num_threads())
    recipe = GANRecipe(dataclasses.replace(base, model=model), cpu)
    g = torch.Generator().manual_seed(1)
    hist, t0 = [], time.perf_counter()
    for s in range(1, steps + 1):
        real = faces[torch.randint(0, len(faces), (BATCH,), generator=g)]
        hist.append(recipe.step(s, real)["loss_d"].item())
    seconds = (time.perf_counter() - t0) / steps
    D = recipe.D.eval()
    with torch.no_grad():
        a = D(held)
        b = D(gen.sample(latents(len(held), gen.nz, 99, 1.0)))
        noisy = D((held + 0.05 * torch.randn(held.shape, generator=g)).clamp(-1, 1))
    pooled = torch.cat([a - a.mean(), b - b.mean()]).std()
    return {
        "policy": policy or "none",
        "loss_d": float(np.mean(hist[-50:])),
        "faces": a.mean().item(),
        "samples": b.mean().item(),
        "separation": ((a.mean() - b.mean()) / pooled).item(),
        "accuracy": (((a > 0).float().mean() + (b < 0).float().mean()) / 2).item(),
        "noisy faces": noisy.mean().item(),
        "s/step": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--policies", default="translation,cutout,color;translation;none")
    p.add_argument("--faces", type=int, default=3000, help="training faces (64 px)")
    args = p.parse_args()
    faces = uint8_to_tensor(np.asarray(load_faces(args.faces, 64, progress=False)))
    held = uint8_to_tensor(held_out_images(256, 64))
    gen = load("faces-gan-64")
    print(f"fresh gan-64 discriminators, {args.steps} steps x {BATCH}, vs faces-gan-64 samples")
    cols = ["loss_d", "faces", "samples", "separation", "accuracy", "noisy faces", "s/step"]
    print(f"{'policy':<26}" + "".join(f"{c:>13}" for c in cols))
    for policy in args.policies.split(";"):
        r = probe("" if policy == "none" else policy, args.steps, faces, held, gen)
        print(f"{r['policy']:<26}" + "".join(f"{r[c]:>13.3f}" for c in cols), flush=True)


if __name__ == "__main__":
    main()
