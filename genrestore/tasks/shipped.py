"""Where shipped models are found, and their model cards: the wheel's, a checkout's, or yours."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..errors import UserError
from .runs import is_run_dir

CHECKPOINT_DIR_ENV = "GENRESTORE_CHECKPOINTS"
log = logging.getLogger("genrestore")


def checkpoint_dirs() -> list[Path]:
    """Where shipped models are looked up, first match wins: ``$GENRESTORE_CHECKPOINTS``,
    then ``genrestore/shipped`` (an installed wheel carries the models there), then the
    top-level ``checkpoints/`` of a source checkout (the source of truth)."""
    dirs = []
    if os.environ.get(CHECKPOINT_DIR_ENV):
        dirs.append(Path(os.environ[CHECKPOINT_DIR_ENV]))
    package = Path(__file__).resolve().parent.parent
    for d in (package / "shipped", package.parent / "checkpoints"):
        if d.is_dir():
            dirs.append(d)
    return dirs


def list_models() -> list[dict]:
    """Shipped models: ``[{"name", "path", "card"}]``, the card read from NAME.json."""
    seen, out = set(), []
    for d in checkpoint_dirs():
        for p in sorted(d.glob("*.safetensors")):
            if p.stem in seen:
                continue
            seen.add(p.stem)
            out.append({"name": p.stem, "path": str(p), "card": _read_card(p.with_suffix(".json"))})
    return out


def _read_card(path: Path) -> dict:
    """A model card, or {} (with a warning) when it is missing or unreadable."""
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable model card (%s); listing the model without it", path, exc)
        return {}
    if not isinstance(card, dict):
        log.warning("%s: model card is not a JSON object; listing the model without it", path)
        return {}
    return card


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name (e.g. "faces-gan-64"), a .safetensors path, or a run directory."""
    p = Path(name_or_path)
    # A folder named like a model (e.g. `generate --out faces-gan-64`) must not shadow it.
    is_run = is_run_dir(p)
    if p.suffix == ".safetensors" or p.is_file() or is_run or os.sep in str(name_or_path):
        return p
    for d in checkpoint_dirs():
        cand = d / f"{name_or_path}.safetensors"
        if cand.exists():
            return cand
    known = ", ".join(m["name"] for m in list_models()) or "none found"
    raise UserError(f"unknown model {str(name_or_path)!r}; shipped models: {known}")
