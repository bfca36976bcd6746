"""The batch engine: restore every image under a folder, in chunks, resumable, failures listed.

The engine knows a job only through ``BatchJob``; the commands adapt their tasks to it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UserError

if TYPE_CHECKING:
    from PIL import Image

CHUNK_BYTES = 512 * 2**20  # decoded input held at once by a batch job (about 170 MP of RGB)


class BatchJob(Protocol):
    """What the engine needs from a job: validate one input, run a chunk, name the outputs."""

    batch_size: int  # inputs per chunk (a chunk also ends at CHUNK_BYTES of decoded input)

    def prepare(self, src: Path, mask: Path | None) -> Any:
        """Open and validate one input (numpy arrays); raises on a file that cannot be used."""
        ...

    def run(self, prepared_items: list) -> list[list[Image.Image]]:
        """One forward pass: for each prepared input, its images in ``output_paths`` order."""
        ...

    def output_paths(self, out: Path) -> list[Path]:
        """The files one input whose output is ``out`` becomes."""
        ...


@dataclasses.dataclass
class Item:
    """One file of a batch job: where it comes from and goes, and its mask (or why none)."""

    src: Path
    out: Path
    mask: Path | None = None
    mask_problem: str | None = None  # set when a mask folder has no (single) mask for src


def same(a: Path | None, b: Path | None) -> bool:
    """Whether ``a`` and ``b`` are both given and name the same file or folder."""
    return a is not None and b is not None and a.resolve() == b.resolve()


def inside(path: Path, folder: Path | None) -> bool:
    """Whether ``path`` lies under ``folder`` (or is it)."""
    return folder is not None and path.resolve().is_relative_to(folder.resolve())


def save_outputs(job: BatchJob, images: list[Image.Image], out: Path) -> None:
    """Write one input's ``images`` to ``job.output_paths(out)``, creating folders."""
    from ..images import save_image

    for img, path in zip(images, job.output_paths(out)):
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(img, path)


def _scan(root: Path, exclude: list[Path | None]) -> list[Path]:
    """Image files under ``root`` (see ``scan_images``) minus those under ``exclude`` folders."""
    from ..data.folder import scan_images

    within = [e for e in exclude if e is not None and inside(e, root) and not same(e, root)]
    files = [p for p in scan_images(root) if not any(inside(p, e) for e in within)]
    if not files:
        raise UserError(f"{root}: the folder has no images besides the output and mask folders")
    return files


def batch_items(src: Path, mask: Path | None, out: Path) -> list[Item]:
    """One item per image under ``src``; outputs at the same relative path under ``out``.

    A mask folder is matched by relative folder and file stem (any image suffix); when
    several masks share a stem, the one with the image's own suffix wins.
    """
    files = _scan(src, [out, mask])
    masks: dict[tuple[str, str], list[Path]] = {}
    if mask is not None:
        for m in _scan(mask, [out, src]):
            rel = m.relative_to(mask)
            masks.setdefault((rel.parent.as_posix(), rel.stem), []).append(m)
    items = []
    for f in files:
        rel = f.relative_to(src)
        item = Item(src=f, out=out / rel)
        if mask is not None:
            found = masks.get((rel.parent.as_posix(), rel.stem), [])
            same_name = [m for m in found if m.name == rel.name]
            if len(found) == 1 or same_name:
                item.mask = (same_name or found)[0]
            elif not found:
                item.mask_problem = (
                    f"no mask found (looked for {mask / rel.parent / rel.stem}.png/.jpg/...)"
                )
            else:
                names = ", ".join(m.name for m in found)
                item.mask_problem = f"several masks match ({names}); keep one"
        items.append(item)
    return items


def _reason(exc: BaseException, *names: object) -> str:
    """One line for a failed file, without the file name the message may start with."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, UserError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    for n in names:
        if n is not None and text.startswith(f"{n}: "):
            text = text[len(f"{n}: ") :]
    return text[:300]


def _nbytes(prepared) -> int:
    """Bytes of the numpy arrays in one prepared input (an array or a tuple of them)."""
    import numpy as np

    parts = prepared if isinstance(prepared, (tuple, list)) else [prepared]
    return sum(x.nbytes for x in parts if isinstance(x, np.ndarray))


class _Pass:
    """One pass over the pending items of a job: chunks, file-by-file retries, failures."""

    def __init__(self, job: BatchJob, total: int, progress: bool):
        from tqdm import tqdm

        self.job = job
        self.debug = bool(os.environ.get("GENRESTORE_DEBUG"))
        self.failed: list[tuple[Item, str]] = []
        self.restored = 0
        self.bar = tqdm(total=total, desc="restoring", unit="img", disable=not progress)

    def run(self, todo: list[Item]) -> None:
        ready: list[tuple[Item, Any]] = []
        held = 0
        for item in todo:
            try:
                prepared = self._prepare(item)
            except Exception as exc:  # noqa: BLE001 - decoders raise many types
                self._fail(item, exc)
                continue
            ready.append((item, prepared))
            held += _nbytes(prepared)
            # a chunk ends at --batch-size files or CHUNK_BYTES of decoded pixels, whichever
            # comes first: 64 small faces share a forward pass, 64 big photos do not
            if len(ready) >= self.job.batch_size or held >= CHUNK_BYTES:
                self.restored += self._restore(ready)
                ready, held = [], 0
        if ready:
            self.restored += self._restore(ready)

    def _prepare(self, item: Item):
        if item.mask_problem:
            raise UserError(item.mask_problem)
        return self.job.prepare(item.src, item.mask)

    def _fail(self, item: Item, exc: BaseException) -> None:
        if self.debug and not isinstance(exc, UserError):
            raise exc
        self.failed.append((item, _reason(exc, item.src)))
        self.bar.update(1)

    def _restore(self, ready: list[tuple[Item, Any]]) -> int:
        """Run one forward pass over ``ready`` [(item, prepared)] and save; returns files saved."""
        try:
            results = self.job.run([p for _, p in ready])
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the job
            if len(ready) == 1:
                self._fail(ready[0][0], exc)
                return 0
            return sum(self._restore([r]) for r in ready)  # find the file that breaks the batch
        saved = 0
        for (item, _), images in zip(ready, results):
            try:
                save_outputs(self.job, images, item.out)
            except Exception as exc:  # noqa: BLE001 - e.g. disk full: record it, go on
                self._fail(item, exc)
                continue
            saved += 1
            self.bar.update(1)
        return saved


def run_batch(job: BatchJob, items: list[Item], *, overwrite: bool, progress: bool) -> int:
    """Restore ``items`` in chunks; print a summary on stderr; 1 if any file failed, else 0.

    Unless ``overwrite``, items whose outputs all exist are skipped, so a rerun resumes.
    """
    todo = items
    if not overwrite:
        todo = [it for it in items if not all(p.exists() for p in job.output_paths(it.out))]
    done_before = len(items) - len(todo)
    batch = _Pass(job, len(todo), progress)
    try:
        batch.run(todo)
    except KeyboardInterrupt:
        batch.bar.close()
        print(
            f"restored {batch.restored} before the interruption; run again to resume",
            file=sys.stderr,
        )
        raise
    batch.bar.close()
    print(
        f"restored {batch.restored}, skipped {done_before} already done, "
        f"failed {len(batch.failed)}",
        file=sys.stderr,
    )
    for item, reason in batch.failed:
        print(f"  FAILED {item.src}: {reason}", file=sys.stderr)
    return 1 if batch.failed else 0
