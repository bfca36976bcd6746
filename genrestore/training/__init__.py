"""Training: ``train(config) -> run_dir``, one loop over a small recipe per family.

A run directory holds ``config.json`` (the resolved config), ``checkpoint.safetensors``
(models, EMA, optimizers, RNG and data-order state in one atomically replaced file),
``log.txt`` and ``samples-<step>.png``. ``resume=True`` continues bit-for-bit (on CPU)
where the last save left off. Layout: ``loop.py`` (the loop), ``sampler.py`` (batches),
``runstate.py`` (a run's state in and out of its checkpoint), ``recipes/`` (one per kind
of family; the registry in ``genrestore.families`` says which family uses which).
"""

from ..tasks.runs import CHECKPOINT, export, inference_checkpoint
from .loop import TrainingDiverged, load_training_images, resolve_config, train
from .recipes.base import Recipe, build_recipe
from .sampler import BatchSampler

__all__ = [
    "CHECKPOINT",
    "BatchSampler",
    "Recipe",
    "TrainingDiverged",
    "build_recipe",
    "export",
    "inference_checkpoint",
    "load_training_images",
    "resolve_config",
    "train",
]
