"""genrestore: learn a face distribution, then generate, inpaint, complete and colorize.

The public API is imported lazily, so ``import genrestore`` and ``genrestore --help`` stay
fast and worker processes that only render data never import torch.
"""

from .errors import UserError

__version__ = "0.1.0"

_LAZY = {
    "load": "genrestore.tasks",
    "auto": "genrestore.tasks",
    "list_models": "genrestore.tasks",
    "Generator": "genrestore.tasks",
    "Inpainter": "genrestore.tasks",
    "Colorizer": "genrestore.tasks",
    "train": "genrestore.training",
    "presets": "genrestore.config",
    "PRESETS": "genrestore.config",
}

__all__ = [
    "PRESETS",
    "Colorizer",
    "Generator",
    "Inpainter",
    "UserError",
    "__version__",
    "auto",
    "list_models",
    "load",
    "presets",
    "train",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "PRESETS" if name == "presets" else name)
    raise AttributeError(f"module 'genrestore' has no attribute {name!r}")
