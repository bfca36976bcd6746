"""Frozen dataclass configs for data and training; each family's model config and presets
live in its module under ``genrestore.families`` (and are re-exported here by name).

One source of defaults: the CLI, the API and the checkpoints all read these dataclasses.
A config is saved inside every checkpoint as JSON, so loading needs nothing but the file.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError

SIZES = (16, 32, 64, 128, 256)


@dataclass(frozen=True)
class DataConfig:
    source: str = "avatars"  # "avatars" (built-in faces), "photos" (data/photos.py) or a folder
    count: int = 20_000  # built-in faces [0, count), or photo crops; ignored for folders
    hflip: bool = True  # random horizontal flips of real images


@dataclass(frozen=True)
class TrainConfig:
    family: str = "gan"  # which model family: see genrestore.families
    model: Any = None  # the family's config (None: the family's defaults)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 10_000  # optimizer steps (of the generator, for GANs)
    batch: int = 64
    save_every: int = 500  # checkpoint every N steps (and at the end)
    sample_every: int = 500  # sample grid every N steps
    log_every: int = 50
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    precision: str = "auto"  # "auto" (measured per machine, see compute.py), "fp32", "bf16"
    out: str = ""  # run directory; "" = runs/<family>-<size>-<time>

    def __post_init__(self):
        if self.model is None:
            from .families import family

            object.__setattr__(self, "model", family(self.family).config())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def model_config_from_dict(family: str, d: dict):
    """Rebuild a family config from JSON; unknown keys are an error (a foreign or newer file)."""
    from .families import family as get_family

    return get_family(family).config_from_dict(d)


def train_config_from_dict(d: dict) -> TrainConfig:
    d = dict(d)
    family = d.get("family", "gan")
    d["model"] = model_config_from_dict(family, d.get("model", {}))
    d["data"] = DataConfig(**d.get("data", {}))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    extra = set(d) - names
    if extra:
        raise UserError(f"train config has unknown fields {sorted(extra)}")
    return TrainConfig(**d)


def __getattr__(name: str):
    """``PRESETS`` and the family configs (``GANConfig``, ...) come from the family registry."""
    from . import families

    if name == "PRESETS":
        return families.all_presets()
    for fam in families.families().values():
        if fam.config.__name__ == name:
            return fam.config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def preset(name: str) -> TrainConfig:
    """A preset by name, with a clear error listing the known ones."""
    from .families import all_presets

    presets = all_presets()
    if name not in presets:
        raise UserError(f"unknown preset {name!r}; known: {', '.join(sorted(presets))}")
    return presets[name]


def with_size(cfg: TrainConfig, size: int) -> TrainConfig:
    """The same config at another image size."""
    if size not in SIZES:
        raise UserError(f"--size must be one of {', '.join(map(str, SIZES))}, got {size}")
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, size=size))
