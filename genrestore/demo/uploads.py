"""Photos uploaded to the Train tab (image files or zips) unpacked, safely, into one folder."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from genrestore import UserError
from genrestore.data.folder import is_image_name

MAX_TRAIN_IMAGES = 2_000  # images in one training upload, zips unpacked
MAX_TRAIN_BYTES = 200 * 2**20  # their bytes together, zips unpacked
MAX_ZIP_ENTRIES = 20_000  # entries read from one zip (folders and other files included)
_CHUNK = 2**20


class _Budget:
    """What an upload may still add: images and bytes; a UserError once either runs out."""

    def __init__(self, images: int, nbytes: int):
        self.images, self.nbytes = images, nbytes

    def take_image(self) -> None:
        self.images -= 1
        if self.images < 0:
            raise UserError(
                f"The upload holds more than {MAX_TRAIN_IMAGES:,} images; "
                "upload fewer (training at these sizes needs a few hundred)."
            )

    def take_bytes(self, n: int) -> None:
        self.nbytes -= n
        if self.nbytes < 0:
            raise UserError(
                f"The upload's images come to more than {MAX_TRAIN_BYTES / 2**20:g} MB "
                "(zips unpacked); upload fewer or smaller photos."
            )


def unpack_uploads(paths: list[str], dest: Path) -> list[tuple[str, str]]:
    """Copy uploaded images, and the images inside uploaded zips, into ``dest``.

    Returns [(name, why it was left out)] for members that are unsafe (an absolute path,
    ``..``, a link) or not images. Raises a UserError when nothing usable was uploaded or
    the upload is over ``MAX_TRAIN_IMAGES`` images or ``MAX_TRAIN_BYTES`` bytes; ``dest``
    may then hold part of the upload (the caller removes it).
    """
    if not paths:
        raise UserError("Upload photos of faces (image files or a zip of them) first.")
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(MAX_TRAIN_IMAGES, MAX_TRAIN_BYTES)
    left_out: list[tuple[str, str]] = []
    for i, path in enumerate(paths):
        name = Path(path).name
        if name.lower().endswith(".zip"):
            _unpack_zip(Path(path), dest / f"zip{i}", budget, left_out)
        elif is_image_name(name):
            budget.take_image()
            budget.take_bytes(os.path.getsize(path))
            shutil.copyfile(path, _free_name(dest / name))
        else:
            left_out.append((name, "not an image or a zip"))
    if budget.images == MAX_TRAIN_IMAGES:
        raise UserError(
            "The upload holds no jpg/png/webp/bmp images"
            + (f" (left out: {listing(left_out)})." if left_out else ".")
        )
    return left_out


def _unpack_zip(path: Path, folder: Path, budget: _Budget, left_out: list[tuple[str, str]]) -> None:
    """The images of one zip into ``folder``, keeping their (checked) relative paths."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise UserError(f"{path.name} is not a readable zip file.") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise UserError(f"{path.name} has more than {MAX_ZIP_ENTRIES:,} entries.")
        for info in entries:
            if info.is_dir():
                continue
            rel = _safe_member(info)
            if rel is None:
                left_out.append((f"{path.name}: {info.filename}", "unsafe path or a link"))
                continue
            if any(part.startswith(".") for part in rel.parts) or rel.parts[0] == "__MACOSX":
                continue  # hidden files and macOS resource forks: not photos, not worth a line
            if not is_image_name(rel.name):
                left_out.append((f"{path.name}: {info.filename}", "not an image"))
                continue
            budget.take_image()
            why = _copy_member(archive, info, folder.joinpath(*rel.parts), budget)
            if why:
                left_out.append((f"{path.name}: {info.filename}", why))


def _safe_member(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, or None for an absolute path, ``..``, a drive or a link."""
    name = info.filename.replace("\\", "/")
    rel = PurePosixPath(name)
    if rel.is_absolute() or ":" in name or any(p in ("..", "") for p in rel.parts):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None
    return rel if rel.parts else None


def _copy_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget
) -> str | None:
    """Write one member -> None, or why it could not be unpacked (nothing is left of it).

    The bytes really unpacked are counted, not the sizes the zip declares, which may lie.
    """
    if info.file_size > budget.nbytes:
        budget.take_bytes(info.file_size)  # refused before unpacking anything of it
    target.parent.mkdir(parents=True, exist_ok=True)
    target = _free_name(target)
    try:
        with archive.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(_CHUNK):
                budget.take_bytes(len(chunk))
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        target.unlink(missing_ok=True)  # RuntimeError: an encrypted member
        return f"cannot be unpacked: {str(exc).strip() or type(exc).__name__}"
    except UserError:
        target.unlink(missing_ok=True)
        raise
    return None


def _free_name(path: Path) -> Path:
    """``path``, or ``stem-2.ext``, ``stem-3.ext``, ... when that name is taken."""
    n, candidate = 2, path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def listing(items: list[tuple[str, str]], most: int = 5) -> str:
    """``a (why); b (why)`` for the first ``most`` items, and how many more."""
    shown = "; ".join(f"{name} ({why})" for name, why in items[:most])
    return shown + (f"; and {len(items) - most} more" if len(items) > most else "")
