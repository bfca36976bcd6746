"""The Gradio demo: generate, inpaint, colorize and complete faces in a browser.

Thin over the Python API: every tab hands PIL images and bool masks to the task objects
that ``genrestore.load`` returns, so there is no second copy of preprocessing here. Models
are loaded once at start-up; a model that is missing leaves its tab with a message instead
of stopping the app. Run it with ``genrestore demo`` (or ``python demos/app.py``).

``app`` composes the tabs and serves them; ``generate``, ``inpaint``, ``colorize`` and
``complete`` each build one tab and hold its handlers; ``widgets`` holds what they share.
Importing this package imports Gradio (``pip install 'genrestore[demo]'``).
"""

from .app import DEFAULT_MODELS, build_app, load_models, main

__all__ = ["DEFAULT_MODELS", "build_app", "load_models", "main"]
