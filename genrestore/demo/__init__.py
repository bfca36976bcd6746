"""The Gradio demo: generate, inpaint, colorize and complete faces, and train, in a browser.

Thin over the Python API: every tab hands PIL images and bool masks to the task objects
that ``genrestore.load`` returns, so there is no second copy of preprocessing here. Models
are loaded once at start-up (runs from the Train tab join them as they finish); a model
that is missing leaves its tab with a message instead of stopping the app. Run it with
``genrestore demo`` (or ``python demos/app.py``).

``app`` composes the tabs and serves them; ``generate``, ``inpaint``, ``colorize``,
``complete`` and ``train`` each build one tab and hold its handlers; ``widgets`` holds what
they share. ``trainer`` runs the Train tab's one background run, ``runs`` keeps its runs
folder and ``uploads`` unpacks uploaded photos. Importing this package imports Gradio
(``pip install 'genrestore[demo]'``).
"""

from .app import DEFAULT_MODELS, build_app, load_models, main

__all__ = ["DEFAULT_MODELS", "build_app", "load_models", "main"]
