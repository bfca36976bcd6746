"""``genrestore demo``: check Gradio and the port, then serve ``genrestore.demo``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import UserError
from .options import add_precision


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="start the Gradio web demo",
        description="Serve the web demo (generate, inpaint, colorize, complete, train) on the "
        "shipped models. Needs pip install 'genrestore[demo]'. Binds 127.0.0.1 (this machine only) "
        "unless --host says otherwise.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    p.add_argument(
        "--runs-dir",
        default=None,
        help="folder where the Train tab keeps its runs, the oldest deleted beyond "
        "a few (default: demo-runs in the cache folder, ~/.cache/genrestore)",
    )
    add_precision(p)


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import time

    started = time.perf_counter()
    if importlib.util.find_spec("gradio") is None:
        raise UserError("the demo needs Gradio: pip install 'genrestore[demo]'")
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port must be between 1 and 65535, got {args.port}")
    if args.runs_dir is not None and Path(args.runs_dir).is_file():
        raise UserError(f"--runs-dir {args.runs_dir}: is a file, not a folder")
    if args.precision:  # every model the demo loads reads it from there
        from ..compute import PRECISION_ENV

        os.environ[PRECISION_ENV] = args.precision
    from ..demo import main  # imports Gradio, so only after the check above

    main(host=args.host, port=args.port, started=started, runs_dir=args.runs_dir)
    return 0
