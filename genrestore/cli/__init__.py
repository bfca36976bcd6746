"""The ``genrestore`` command: thin argparse subcommands over the Python API.

Errors a user can fix print one line on stderr and exit 2; other failures exit 1.
Set GENRESTORE_DEBUG=1 to see full tracebacks. One module per command group builds its
parser and runs it; ``batch`` is the folder engine that inpaint, colorize and complete share.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from ..errors import UserError
from . import demo, evaluate, generate, info, restore, train

# Subcommands that parse but are not in this version yet: name -> what brings them.
PLANNED: dict[str, str] = {}

# command -> run(args); the order is the order of `genrestore --help`.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train.run,
    "generate": generate.run,
    "inpaint": restore.run,
    "colorize": restore.run,
    "complete": restore.run,
    "eval": evaluate.run,
    "models": info.run,
    "demo": demo.run,
    "env": info.run,
}


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit 2 (no usage dump)."""

    def error(self, message: str):  # subparsers inherit this class
        self.exit(2, f"genrestore: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="genrestore",
        description="Learn a face distribution, then generate, inpaint, complete and colorize faces.",
    )
    parser.add_argument("--version", action="version", version=f"genrestore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    generate.add_parser(sub)
    restore.add_parser(sub)  # inpaint, colorize, complete
    evaluate.add_parser(sub)
    info.add_models_parser(sub)
    demo.add_parser(sub)
    info.add_env_parser(sub)
    return parser


def _rank_tag() -> str:
    """ "[rank 1] " under torchrun with several processes (each prints its own error)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return f"[rank {os.environ.get('RANK', '?')}] "
    return ""


def _is_training_diverged(exc: Exception) -> bool:
    """A diverged run is a result to report, not a bug in genrestore.

    Looked up in ``sys.modules`` so that a generate or inpaint run never imports the training
    package: only ``genrestore train`` imports it, and only then can the exception occur.
    """
    training = sys.modules.get("genrestore.training")
    return training is not None and isinstance(exc, training.TrainingDiverged)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="genrestore: %(message)s", level=logging.INFO, stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        if args.command in PLANNED:
            raise UserError(
                f"'{args.command}' comes with {PLANNED[args.command]}; not in this version"
            )
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"genrestore: error: {_rank_tag()}{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genrestore: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("GENRESTORE_DEBUG"):
            raise
        kind = "" if _is_training_diverged(exc) else f"internal error ({type(exc).__name__}): "
        print(f"genrestore: error: {_rank_tag()}{kind}{exc}".splitlines()[0], file=sys.stderr)
        return 1
