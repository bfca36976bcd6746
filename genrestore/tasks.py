"""Task objects over checkpoints: ``load(name or path)`` returns a ``Generator`` (gan, vae).

The CLI and the demo call these same objects, so there is one path from a checkpoint to a
result and no second copy of preprocessing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import Checkpoint, load_checkpoint
from .config import model_config_from_dict
from .errors import UserError
from .images import tensor_to_pil
from .models import build_inference_model

CHECKPOINT_DIR_ENV = "GENRESTORE_CHECKPOINTS"
log = logging.getLogger("genrestore")


def checkpoint_dirs() -> list[Path]:
    """Where shipped models are looked up: $GENRESTORE_CHECKPOINTS, then the repo's checkpoints/."""
    dirs = []
    if os.environ.get(CHECKPOINT_DIR_ENV):
        dirs.append(Path(os.environ[CHECKPOINT_DIR_ENV]))
    dirs.append(Path(__file__).resolve().parent.parent / "checkpoints")
    return dirs


def list_models() -> list[dict]:
    """Shipped models: ``[{"name", "path", "card"}]``, the card read from NAME.json."""
    seen, out = set(), []
    for d in checkpoint_dirs():
        for p in sorted(d.glob("*.safetensors")):
            if p.stem in seen:
                continue
            seen.add(p.stem)
            out.append({"name": p.stem, "path": str(p), "card": _read_card(p.with_suffix(".json"))})
    return out


def _read_card(path: Path) -> dict:
    """A model card, or {} (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable model card (%s); listing the model without it", path, exc)
        return {}
    if not isinstance(card, dict):
        log.warning("%s: model card is not a JSON object; listing the model without it", path)
        return {}
    return card


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name (e.g. "faces-gan-64") or a path to a .safetensors file."""
    p = Path(name_or_path)
    # A folder named like a model (e.g. `generate --out faces-gan-64`) must not shadow it.
    if p.suffix == ".safetensors" or p.is_file() or os.sep in str(name_or_path):
        return p
    for d in checkpoint_dirs():
        cand = d / f"{name_or_path}.safetensors"
        if cand.exists():
            return cand
    known = ", ".join(m["name"] for m in list_models()) or "none found"
    raise UserError(f"unknown model {str(name_or_path)!r}; shipped models: {known}")


def _build(ck: Checkpoint, device: torch.device) -> torch.nn.Module:
    try:
        cfg = model_config_from_dict(ck.family, ck.config)
        model = build_inference_model(ck.family, cfg)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{ck.path}: checkpoint config is invalid ({exc})") from None
    weights = {k: v.float() if v.is_floating_point() else v for k, v in ck.group("model").items()}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][1:2] or [str(exc)]
        raise UserError(
            f"{ck.path}: weights do not match the model its config describes ({first[0][:200]})"
        ) from None
    return model.to(device).eval()


def latents(n: int, nz: int, seed: int, truncation: float = 1.0) -> torch.Tensor:
    """(n, nz) standard-normal latents; row i depends only on (seed, i)."""
    if seed < 0:  # numpy's seed sequence refuses negative entries with a bare ValueError
        raise UserError(f"seed must be 0 or more, got {seed}")
    z = np.stack([np.random.default_rng([seed, i]).standard_normal(nz) for i in range(n)])
    return torch.from_numpy(z).float() * float(truncation)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents a, b (nz,) at times t (T,) -> (T, nz)."""
    an, bn = a / a.norm(), b / b.norm()
    omega = torch.arccos((an * bn).sum().clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    t = t.view(-1, 1)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


class Generator:
    """Samples faces from a learned distribution (a GAN generator or a VAE decoder).

    ``generate(n, seed)`` -> list of PIL images; face i of a seed is always the same face.
    """

    def __init__(self, model: torch.nn.Module, family: str, config, card: dict, name: str = ""):
        self.model, self.family, self.config, self.card, self.name = model, family, config, card, name
        self.device = next(model.parameters()).device
        self.size = config.size
        self.nz = config.nz

    @classmethod
    def from_checkpoint(cls, ck: Checkpoint, device: torch.device) -> Generator:
        model = _build(ck, device)
        return cls(model, ck.family, model_config_from_dict(ck.family, ck.config), ck.card, ck.path)

    def _decode(self) -> torch.nn.Module:
        return self.model if self.family == "gan" else self.model.decoder

    @torch.inference_mode()
    def sample(self, z: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Latents (N, nz) -> images (N, 3, size, size) in [-1, 1]."""
        net = self._decode()
        outs = []
        for i in range(0, z.shape[0], batch):
            outs.append(net(z[i : i + batch].to(self.device)).float())
        return torch.cat(outs).clamp(-1, 1)

    def generate(self, n: int = 16, seed: int = 0, truncation: float | None = None) -> list[Image.Image]:
        """``n`` faces for ``seed``; ``truncation`` in (0, 1] trades variety for quality."""
        if not 1 <= n <= 10_000:
            raise UserError(f"number of faces must be between 1 and 10000, got {n}")
        t = self.config_truncation() if truncation is None else truncation
        if not 0 < t <= 2:
            raise UserError(f"truncation must be in (0, 2], got {t}")
        return tensor_to_pil(self.sample(latents(n, self.nz, seed, t)))

    def config_truncation(self) -> float:
        return float(getattr(self.config, "truncation", 1.0))

    def interpolate(self, seed_a: int, seed_b: int, steps: int = 8) -> list[Image.Image]:
        """``steps`` faces along the great circle from seed_a's first face to seed_b's."""
        if not 2 <= steps <= 256:
            raise UserError(f"interpolation steps must be between 2 and 256, got {steps}")
        a = latents(1, self.nz, seed_a)[0]
        b = latents(1, self.nz, seed_b)[0]
        z = _slerp(a, b, torch.linspace(0, 1, steps))
        return tensor_to_pil(self.sample(z))


def load(name_or_path: str | os.PathLike, device: str = "cpu"):
    """Load a shipped model by name or a checkpoint by path; returns the matching task object."""
    from .training import resolve_device

    path = resolve_model_path(name_or_path)
    ck = load_checkpoint(path)
    dev = resolve_device(device)
    if ck.family in ("gan", "vae"):
        return Generator.from_checkpoint(ck, dev)
    raise UserError(f"{path}: model family {ck.family!r} has no task in this version")
