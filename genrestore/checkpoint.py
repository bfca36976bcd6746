"""Self-describing safetensors checkpoints: config + weights + version, never pickled code.

A file holds tensors (``model.*`` for the inference network; a run checkpoint adds ``ema.*``,
``disc.*``, flattened optimizer state ``optim.*`` and RNG states ``rng.*``) and string
metadata: ``format="genrestore"``, ``format_version``, ``family``, ``config`` (JSON),
``step`` and ``card`` (JSON). Loading parses only JSON and raw tensors, so a hostile file
can fail to load but can never run code. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UserError
from .images import atomic_write

FORMAT = "genrestore"
FORMAT_VERSION = 1
_MAX_HEADER = 64 * 1024 * 1024


@dataclass
class Checkpoint:
    """A loaded checkpoint: what it is (family, config, step, card) and its tensors."""

    family: str
    config: dict
    step: int
    card: dict
    tensors: dict[str, torch.Tensor]
    meta: dict[str, str] = field(default_factory=dict)
    path: str = ""

    def group(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under ``prefix.`` with the prefix removed (e.g. ``group("model")``)."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}


def save_checkpoint(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    *,
    family: str,
    config: dict,
    step: int = 0,
    card: dict | None = None,
    meta: dict[str, str] | None = None,
) -> None:
    """Write tensors + metadata atomically as one safetensors file."""
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "family": family,
        "config": json.dumps(config, sort_keys=True),
        "step": str(int(step)),
        "card": json.dumps(card or {}, sort_keys=True),
        **(meta or {}),
    }
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(flat, tmp, metadata=metadata))


def _sniff(path: Path) -> None:
    """Reject files that are obviously not safetensors, with a message saying what they are."""
    name = str(path)
    if not path.exists():
        raise UserError(f"{name}: no such checkpoint file")
    if path.is_dir():
        raise UserError(f"{name}: is a folder, not a checkpoint file")
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len <= _MAX_HEADER and 8 + header_len <= size and head[8:9] == b"{":
            return  # a plausible safetensors header; safetensors itself checks the rest
    # Only now look for pickle magic: a valid header length can start with 0x80 or "PK".
    is_pickle = head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
    if is_pickle or head[:4] == b"PK\x03\x04":  # torch.save: a raw pickle or a zip of one
        raise UserError(
            f"{name}: this is a pickled PyTorch file, not safetensors; genrestore never "
            "unpickles checkpoints (that can run code). Export it as .safetensors"
        )
    if len(head) < 9:
        raise UserError(f"{name}: file is too short to be a checkpoint ({size} bytes)")
    raise UserError(f"{name}: not a safetensors checkpoint (unreadable header)")


def load_checkpoint(path: str | os.PathLike, *, map_location: str = "cpu") -> Checkpoint:
    """Read a genrestore checkpoint; raise ``UserError`` for anything else.

    Foreign safetensors files (no ``format=genrestore``), files from a newer genrestore,
    truncated or corrupt files all give one clear line.
    """
    path = Path(path)
    name = str(path)
    _sniff(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=map_location) as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{name}: corrupt or truncated checkpoint ({reason})") from None
    if meta.get("format") != FORMAT:
        raise UserError(
            f"{name}: not a genrestore checkpoint (a safetensors file from another library?); "
            "it has no genrestore config to rebuild the model from"
        )
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise UserError(f"{name}: checkpoint has an invalid format_version") from None
    if version > FORMAT_VERSION:
        raise UserError(
            f"{name}: written by a newer genrestore (checkpoint format {version}, this version "
            f"reads up to {FORMAT_VERSION}); upgrade genrestore to load it"
        )
    try:
        config = json.loads(meta["config"])
        card = json.loads(meta.get("card", "{}"))
        step = int(meta.get("step", "0"))
        family = meta["family"]
    except (KeyError, ValueError) as exc:
        raise UserError(f"{name}: checkpoint metadata is incomplete ({exc})") from None
    return Checkpoint(family, config, step, card, tensors, meta, name)


# --- optimizer and RNG state as plain tensors + JSON (no pickle) ------------------------------


def optimizer_to_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict, dict]:
    """Flatten an optimizer's state_dict into (tensors, json-able rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], prefix: str, rest: dict
) -> None:
    state: dict[int, dict] = {}
    p = prefix + "."
    for k, v in tensors.items():
        if k.startswith(p):
            pid, key = k[len(p) :].split(".", 1)
            state.setdefault(int(pid), {})[key] = v
    for k, v in rest.get("scalars", {}).items():
        pid, key = k.split(".", 1)
        state.setdefault(int(pid), {})[key] = v
    opt.load_state_dict({"state": state, "param_groups": rest["param_groups"]})


def weights_digest(tensors: dict[str, torch.Tensor]) -> str:
    """A fingerprint of a network's weights (16 hex digits of a sha256 over the sorted names,
    shapes and values rounded to fp16): the same for a run's fp32 weights and their fp16
    export, so a model trained against a generator can tell whether it still has that one."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        v = tensors[name].detach().cpu()
        v = v.half() if v.is_floating_point() else v
        h.update(f"{name}{tuple(v.shape)}{v.dtype}".encode())
        h.update(v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def save_fp16(ck: Checkpoint, out_path: str | os.PathLike) -> None:
    """Write an inference checkpoint with its floating-point tensors in fp16 (shipped size)."""
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in ck.tensors.items()}
    save_checkpoint(out_path, half, family=ck.family, config=ck.config, step=ck.step, card=ck.card)
