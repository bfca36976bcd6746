"""Option helpers shared by the subcommands: positive counts, ``--precision``, ``--method``."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def add_precision(p: argparse.ArgumentParser) -> None:
    """The ``--precision`` option every command that runs a model takes."""
    p.add_argument(
        "--precision",
        default=None,
        choices=["auto", "fp32", "bf16", "fp16"],
        help="auto (default: the fastest measured on this machine, see 'genrestore env'; "
        "$GENRESTORE_PRECISION overrides it), or force one",
    )


def add_completion_method(p: argparse.ArgumentParser) -> None:
    """``--method`` of completion (``complete`` and ``eval complete``)."""
    p.add_argument(
        "--method",
        choices=["auto", "encoder", "search"],
        default="auto",
        help="completion: encoder = one pass of the model's completion encoder (samples of "
        "q(z | visible pixels), no search); search = many Adam steps from random latents; "
        "auto (default) = encoder where the model ships one",
    )
