"""The family registry: every model family is declared once, in its own module here.

A family module (``gan.py``, ``vae.py``, ...) defines its config dataclass, its presets and a
``FAMILY = Family(...)`` that names its inference network, task, training recipe and
evaluations. The CLI, eval, the demo, the loaders and the trainer iterate this registry, so
adding a family is one new module and one line in ``FAMILY_MODULES``.

Networks, tasks, recipes and evaluators are named as ``"module:attribute"`` and imported
only when asked for: loading a model never imports the training code.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError

# The one list of families, in the order the CLI and the demo show them.
FAMILY_MODULES = ("gan", "vae", "inpaint", "colorize", "encoder", "upscale")


@dataclass(frozen=True)
class Family:
    """One model family: what it learns and the code that trains, runs and measures it."""

    name: str  # "gan": the family key stored in every checkpoint
    summary: str  # one line for --help and `genrestore models`
    config: type  # the frozen dataclass of the model's hyper-parameters
    presets: dict[str, Any]  # preset name -> TrainConfig; the first one is the default
    network: str  # "module:attr" of the inference network class (built from a config)
    task: str  # "module:attr" of the inference task class that `load()` returns
    recipe: str  # "module:attr" of the training recipe class
    evaluations: dict[str, str] = field(default_factory=dict)  # eval name -> "module:attr"
    shipped: str = ""  # the shipped (face) model of this family, e.g. for `eval`
    shipped_photo: str = ""  # its shipped natural-photo model; `--model auto` picks per image
    # model fields that shape the weights `train --init` copies: taken from the starting
    # model unless --set (or --size) names them
    init_fields: tuple[str, ...] = ()

    @property
    def default_preset(self) -> str:
        return next(iter(self.presets))

    def network_class(self) -> type:
        return resolve(self.network)

    def task_class(self) -> type:
        return resolve(self.task)

    def recipe_class(self) -> type:
        return resolve(self.recipe)

    def build_network(self, cfg):
        """The inference network for ``cfg`` (untrained weights)."""
        return self.network_class()(cfg)

    def config_from_dict(self, d: dict):
        """Rebuild this family's config from JSON; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(self.config)}
        extra = set(d) - names
        if extra:
            raise UserError(f"{self.name} config has unknown fields {sorted(extra)}")
        return self.config(**d)


# The photo presets' network and optimiser (inpaint and colorize): fully convolutional at
# the photo's own size, trained on 128-px crops, 16 channels at full resolution for CPU
# speed, no adversary, and a steadier Adam than the GANs' (lr 5e-4 with beta1 0.5 saturated
# the colorizer's tanh head at step 250).
PHOTO_NATIVE = {
    "size": 128,
    "native": True,
    "nf": 16,
    "depth": 4,
    "n_res": 4,
    "adv_weight": 0.0,
    "fm_weight": 0.0,
    "lr_g": 2e-4,
    "beta1": 0.9,
}


def resolve(path: str):
    """``"genrestore.tasks.generate:Generator"`` -> the object (imported on first use)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_REGISTRY: dict[str, Family] = {}


def families() -> dict[str, Family]:
    """{name: Family} for every family in ``FAMILY_MODULES``, in that order."""
    if not _REGISTRY:
        for name in FAMILY_MODULES:
            fam = importlib.import_module(f"{__name__}.{name}").FAMILY
            _REGISTRY[fam.name] = fam
    return _REGISTRY


def family(name: str) -> Family:
    """A family by name, with a clear error naming the known ones."""
    known = families()
    if name not in known:
        raise UserError(f"unknown model family {name!r}; known: {', '.join(known)}")
    return known[name]


def all_presets() -> dict[str, Any]:
    """Every family's presets in one {name: TrainConfig} table."""
    return {k: v for fam in families().values() for k, v in fam.presets.items()}


def evaluations() -> dict[str, list[Family]]:
    """{eval name: the families that offer it}, e.g. "complete" -> [gan, vae]."""
    out: dict[str, list[Family]] = {}
    for fam in families().values():
        for name in fam.evaluations:
            out.setdefault(name, []).append(fam)
    return out
