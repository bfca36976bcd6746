"""Serve the genrestore demo: ``python demos/app.py [--host H] [--port P]``.

The demo itself is the ``genrestore.demo`` package; ``genrestore demo`` serves it too.
"""

from __future__ import annotations

import argparse

from genrestore import UserError
from genrestore.demo import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="The Gradio demo: generate, inpaint, colorize and complete faces in a browser."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    try:
        main(args.host, args.port)
    except UserError as exc:
        raise SystemExit(f"demo: error: {exc}") from None
