"""A user's folder of photos as a cached uint8 training array (N, size, size, 3)."""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import errno
import hashlib
import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..errors import UserError
from ..images import IMAGE_SUFFIXES, atomic_write, open_image
from .cache import cache_dir, cache_lock, load_array

log = logging.getLogger("genrestore")

FORMAT_VERSION = 1  # bump when prepare_image or the cache layout changes: old caches miss
PARALLEL_MIN_FILES = 64  # below this, starting spawn workers (~1 s) costs more than it saves
MAX_WORKERS = 8
MAX_CHUNK = 32  # files per worker task; bounds the rows in flight to 2 * workers * MAX_CHUNK
PROGRESS_EVERY = 5.0  # seconds between saves of a build's progress (what a resume starts from)


@dataclass(frozen=True, eq=False)
class FolderData:
    """The decoded images of a folder, with what was left out and why."""

    images: np.ndarray  # (N, size, size, 3) uint8, read-only memmap of the cache file
    paths: list[str]  # relative paths ("/"-separated), one per row of ``images``
    skipped: list[tuple[str, str]]  # (relative path, one-line reason) per unreadable file


def is_image_name(name: str) -> bool:
    """Whether a file name counts as an image here: jpg/jpeg/png/webp/bmp in any case, not hidden."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan_images(root: str | os.PathLike) -> list[Path]:
    """Image files under ``root`` (recursive), sorted by relative path; hidden names skipped.

    Suffixes jpg/jpeg/png/webp/bmp in any case count; files and folders whose names start
    with "." are skipped; symlinked folders are not followed. Raises ``UserError`` when
    ``root`` is missing, is not a folder, or holds no image files.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserError(f"{root}: is a file, not a folder of images")
    rels = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if is_image_name(name):
                rels.append((rel_dir / name).as_posix())
    if not rels:
        raise UserError(
            f"{root}: the folder has no jpg/png/webp/bmp images "
            "(subfolders searched, hidden files skipped)"
        )
    return [root / rel for rel in sorted(rels)]


def prepare_image(img: Image.Image, size: int) -> np.ndarray:
    """PIL image -> uint8 array (size, size, 3): the largest centered square, LANCZOS-resized."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    # crop first: resize(box=...) would let the filter read pixels outside the square
    out = img.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.LANCZOS
    )
    return np.asarray(out, dtype=np.uint8)


def load_folder(
    root: str | os.PathLike,
    size: int,
    *,
    progress: bool = True,
    workers: int | None = None,
    on_decoded: Callable[[str, str | None], None] | None = None,
) -> FolderData:
    """Decode every image under ``root`` to (N, size, size, 3) uint8, cached on disk.

    The first call decodes (in ``workers`` spawned processes for 64 files or more; default
    ``min(cpu_count, 8)``) into ``cache_dir()/folder-<key>.npy``; later calls with the same
    files (same relative paths, byte sizes and mtimes) memory-map that file without decoding.
    Unreadable files are skipped, listed in ``skipped`` and logged as warnings; ``UserError``
    if none can be read. Call from under ``if __name__ == "__main__":`` in scripts (spawn).

    Memory stays bounded (rows stream into a memory-mapped file); an interrupted build
    resumes on the next call; processes asking for the same cache at once (torchrun ranks)
    take turns on a lock, so it is built once.

    ``on_decoded(relative path, reason or None)`` is called in this process after each file
    a build decodes (or fails to), once its row is stored: a hook for progress displays and
    for counting what a build really decoded (reused and cached rows are not reported).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UserError(f"image size must be a positive integer, got {size!r}")
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"workers must be a positive integer, got {workers!r}")
    root = Path(root)
    files = scan_images(root)
    rels = [p.relative_to(root).as_posix() for p in files]
    key, stamps = _cache_key(root, files, rels, size)
    cache = cache_dir()
    npy_path, meta_path = cache / f"folder-{key}.npy", cache / f"folder-{key}.json"
    data = _load_cached(npy_path, meta_path, size)
    if data is None:
        with cache_lock(f"folder-{key}"):  # another process may be building this very cache
            data = _load_cached(npy_path, meta_path, size)
            if data is None:
                data = _build_cache(
                    root, files, rels, stamps, size, workers, progress, npy_path, meta_path,
                    on_decoded,
                )  # fmt: skip
    for rel, reason in data.skipped:
        log.warning("%s: skipped (%s)", root / rel, reason)
    return data


def _cache_key(
    root: Path, files: list[Path], rels: list[str], size: int
) -> tuple[str, list[list[int]]]:
    """(key, stamps): sha1 over the format version, size, resolved root and each file's
    (path, bytes, mtime); stamps are the [bytes, mtime_ns] per file ([-1, -1]: unreadable)."""
    h = hashlib.sha1()
    stamps = []
    h.update(json.dumps([FORMAT_VERSION, size, str(root.resolve())]).encode())
    for path, rel in zip(files, rels):
        try:
            st = path.stat()
            stamp = [st.st_size, st.st_mtime_ns]
        except OSError:  # a broken link or a file removed since the scan; decoding will say
            stamp = [-1, -1]
        stamps.append(stamp)
        h.update(b"\n" + json.dumps([rel, *stamp]).encode())
    return h.hexdigest()[:20], stamps


def _load_cached(npy_path: Path, meta_path: Path, size: int) -> FolderData | None:
    """The cached FolderData, or None if absent, unreadable or inconsistent."""
    if not (npy_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        paths = [str(p) for p in meta["paths"]]
        skipped = [(str(rel), str(reason)) for rel, reason in meta["skipped"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    images = load_array(npy_path)
    if images is None or images.dtype != np.uint8 or images.shape != (len(paths), size, size, 3):
        return None
    return FolderData(images=images, paths=paths, skipped=skipped)


def _build_cache(
    root: Path,
    files: list[Path],
    rels: list[str],
    stamps: list[list[int]],
    size: int,
    workers: int,
    progress: bool,
    npy_path: Path,
    meta_path: Path,
    on_decoded: Callable[[str, str | None], None] | None = None,
) -> FolderData:
    """Decode all files into a memmap, drop failed rows, then rename onto ``npy_path``.

    Rows stream into ``folder-<key>.partial.npy`` (never more than a few chunks in memory);
    which files are done, and why any failed, is saved beside it every ``PROGRESS_EVERY``
    seconds and on Ctrl-C, so a build that is interrupted or killed resumes where that
    record stops instead of decoding everything again. When the folder has changed since
    its last cache, the rows of unchanged files (same path, bytes and mtime) are copied from
    that cache instead of decoded, and the outdated cache is then deleted.
    """
    n = len(files)
    partial = npy_path.with_name(f"{npy_path.stem}.partial.npy")
    record = npy_path.with_name(f"{npy_path.stem}.partial.json")
    compact_tmp = npy_path.with_name(f".{npy_path.stem}.{os.getpid()}.compact.tmp")
    resumed = _resume_partial(partial, record, n, size)
    if resumed is None:
        rows = _open_memmap(partial, (n, size, size, 3))
        done = np.zeros(n, dtype=bool)
        reasons: dict[int, str] = {}
        outdated = list(_outdated(npy_path, root, size))
        reused = _reuse_unchanged(outdated, rels, stamps, size, rows, done, reasons)
        if reused:
            log.info("%s: %d of %d images unchanged since the last cache, reused", root, reused, n)
            _save_progress(rows, record, done, reasons, root, size)  # before the old cache goes
        _remove_outdated(outdated, root)
    else:
        rows, done, reasons = resumed
        log.info(
            "%s: resuming an interrupted cache build, %d of %d images already decoded",
            root,
            int(done.sum()),
            n,
        )
    todo = np.flatnonzero(~done).tolist()
    paths = [str(files[i]) for i in todo]
    try:
        decoded = (
            _decode_sequential(paths, size)
            if workers == 1 or len(paths) < PARALLEL_MIN_FILES
            else _decode_parallel(paths, size, workers)
        )
        last_save = time.monotonic()
        bar = tqdm(
            total=n,
            initial=n - len(todo),
            desc=f"decoding {root}",
            unit="img",
            disable=not progress,
        )
        try:
            with bar:
                for k, row, reason in decoded:
                    i = todo[k]
                    if reason is None:
                        rows[i] = row
                    else:
                        reasons[i] = reason
                    done[i] = True
                    bar.update(1)
                    if time.monotonic() - last_save >= PROGRESS_EVERY:
                        _save_progress(rows, record, done, reasons, root, size)
                        last_save = time.monotonic()
                    if on_decoded is not None:
                        on_decoded(rels[i], reason)
        except BaseException:  # Ctrl-C, a full disk...: keep what is decoded for next time
            _save_progress(rows, record, done, reasons, root, size)
            raise
        failed = np.zeros(n, dtype=bool)
        failed[list(reasons)] = True
        good = np.flatnonzero(done & ~failed).tolist()
        skipped = [(rels[i], reasons[i]) for i in sorted(reasons)]
        if not good:
            rel, reason = skipped[0]
            del rows
            for path in (partial, record):
                path.unlink(missing_ok=True)
            raise UserError(
                f"{root}: all {n} image files failed to decode (first: {rel}: {reason})"
            )
        final = partial
        if skipped:  # copy the good rows, in order, into a file of the right shape
            compact = _open_memmap(compact_tmp, (len(good), size, size, 3))
            for j in range(0, len(good), 256):
                compact[j : j + 256] = rows[good[j : j + 256]]
            compact.flush()
            del compact
            final = compact_tmp
        rows.flush()
        del rows
        os.replace(final, npy_path)
        partial.unlink(missing_ok=True)
        kept = [rels[i] for i in good]
        meta = {"format_version": FORMAT_VERSION, "size": size, "root": str(root.resolve())}
        meta |= {"paths": kept, "skipped": skipped, "stamps": dict(zip(rels, stamps))}
        atomic_write(
            meta_path, lambda p: Path(p).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        )
        record.unlink(missing_ok=True)
    finally:
        compact_tmp.unlink(missing_ok=True)
    return FolderData(images=np.load(npy_path, mmap_mode="r"), paths=kept, skipped=skipped)


def _save_progress(
    rows: np.memmap,
    record: Path,
    done: np.ndarray,
    reasons: dict[int, str],
    root: Path,
    size: int,
) -> None:
    """Flush the decoded rows to disk, then record which files are done (atomically)."""
    rows.flush()  # rows first: the record must never claim a row that is not on disk
    state = {
        "format_version": FORMAT_VERSION,
        "root": str(root.resolve()),
        "n": int(done.size),
        "size": size,
        "done": base64.b64encode(np.packbits(done).tobytes()).decode("ascii"),
        "reasons": {str(i): r for i, r in reasons.items()},
    }
    atomic_write(record, lambda p: Path(p).write_text(json.dumps(state), encoding="utf-8"))


def _outdated(npy_path: Path, root: Path, size: int) -> Iterator[tuple[str, Path, dict]]:
    """(stem, JSON path, its content) for this folder's caches and records under other keys."""
    me = str(root.resolve())
    for meta in sorted(npy_path.parent.glob("folder-*.json")):  # caches and partial records
        stem = meta.name.split(".")[0]  # folder-<key>
        if stem == npy_path.stem or (meta.parent / f".{stem}.lock").exists():
            continue  # this build, or one running right now
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            if info.get("root") == me and info.get("size") == size:
                yield stem, meta, info
        except (OSError, ValueError, AttributeError):
            continue


def _reuse_unchanged(
    outdated: list[tuple[str, Path, dict]],
    rels: list[str],
    stamps: list[list[int]],
    size: int,
    rows: np.memmap,
    done: np.ndarray,
    reasons: dict[int, str],
) -> int:
    """Fill ``rows``/``done``/``reasons`` for files unchanged since an outdated finished cache.

    Returns how many files were taken over (decoded rows and known failures).
    """
    for stem, meta, info in outdated:
        if meta.name != f"{stem}.json" or not isinstance(info.get("stamps"), dict):
            continue
        old = _load_cached(meta.with_name(f"{stem}.npy"), meta, size)
        if old is None:
            continue
        old_rows = {rel: j for j, rel in enumerate(old.paths)}
        old_fail = dict(old.skipped)
        taken = 0
        for i, (rel, stamp) in enumerate(zip(rels, stamps)):
            if stamp[0] < 0 or info["stamps"].get(rel) != stamp:
                continue
            if rel in old_rows:
                rows[i] = old.images[old_rows[rel]]
            elif rel in old_fail:
                reasons[i] = old_fail[rel]
            else:
                continue
            done[i] = True
            taken += 1
        return taken
    return 0


def _remove_outdated(outdated: list[tuple[str, Path, dict]], root: Path) -> None:
    """Delete this folder's caches at this size under other keys: its files have changed.

    Without this every edit of a large photo folder would leave a full-size stale cache
    behind. Entries whose build lock is held (being built right now) are left alone.
    """
    stems = {stem: meta for stem, meta, _ in outdated}
    for stem, meta in stems.items():
        freed = 0
        for suffix in (".npy", ".partial.npy", ".partial.json", ".json"):
            path = meta.with_name(stem + suffix)
            with contextlib.suppress(FileNotFoundError):
                freed += path.stat().st_size
                path.unlink()
        log.info(
            "%s: the folder changed; removed its outdated cache (%.0f MB)", root, freed / 2**20
        )


def _resume_partial(
    partial: Path, record: Path, n: int, size: int
) -> tuple[np.memmap, np.ndarray, dict[int, str]] | None:
    """(rows, done, reasons) of an interrupted build of this exact cache, or None."""
    if not (partial.is_file() and record.is_file()):
        return None
    try:
        state = json.loads(record.read_text(encoding="utf-8"))
        if (state["format_version"], state["n"], state["size"]) != (FORMAT_VERSION, n, size):
            return None
        bits = np.frombuffer(base64.b64decode(state["done"]), dtype=np.uint8)
        done = np.unpackbits(bits)[:n].astype(bool)
        reasons = {int(i): str(r) for i, r in state["reasons"].items()}
        rows = np.load(partial, mmap_mode="r+")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if rows.dtype != np.uint8 or rows.shape != (n, size, size, 3) or done.size != n:
        return None
    return rows, done, reasons


def _open_memmap(path: Path, shape: tuple[int, ...]) -> np.memmap:
    """A new uint8 .npy memmap of ``shape`` at ``path``; UserError if the disk refuses.

    The file's blocks are reserved up front where the OS allows: writing into a sparse
    memmap on a full disk kills the process with SIGBUS instead of raising an error.
    """
    try:
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
        if hasattr(os, "posix_fallocate"):
            with open(path, "r+b") as f:
                try:
                    os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                        raise
        return arr
    except OSError as exc:
        raise UserError(
            f"{path.parent}: cannot write the image cache ({exc.strerror or exc})"
        ) from None


def _decode_file(path: str, size: int) -> tuple[np.ndarray | None, str | None]:
    """(row (size, size, 3) uint8, None) for a good file, (None, one-line reason) otherwise."""
    try:
        return prepare_image(open_image(path), size), None
    except UserError as exc:
        text = _one_line(exc).removeprefix(f"{path}: ")  # the caller names the file
        return None, text.replace(path, os.path.basename(path))  # PIL repeats it, in full
    except Exception as exc:  # noqa: BLE001 -- a decoder bug must not abort a whole folder
        return None, f"cannot decode image ({type(exc).__name__}: {_one_line(exc)})"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def _decode_chunk(paths: list[str], size: int) -> tuple[np.ndarray, list[str | None]]:
    """Worker task: rows (len(paths), size, size, 3) uint8 (zeros where failed) and reasons."""
    rows = np.zeros((len(paths), size, size, 3), dtype=np.uint8)
    reasons: list[str | None] = []
    for k, path in enumerate(paths):
        row, reason = _decode_file(path, size)
        if row is not None:
            rows[k] = row
        reasons.append(reason)
    return rows, reasons


def _decode_sequential(
    paths: list[str], size: int
) -> Iterator[tuple[int, np.ndarray | None, str | None]]:
    """Yield (index, row or None, reason or None) per file, decoding in this process."""
    for i, path in enumerate(paths):
        row, reason = _decode_file(path, size)
        yield i, row, reason


def _decode_parallel(
    paths: list[str], size: int, workers: int
) -> Iterator[tuple[int, np.ndarray | None, str | None]]:
    """Like ``_decode_sequential`` but in spawned processes, in completion order.

    At most ``2 * workers`` chunks are in flight, so memory stays bounded however large
    the folder. Spawn, not fork: forking a process where torch has started threads can hang.
    If the pool breaks (a worker killed, or a ``__main__`` that spawn cannot re-import, such
    as a script read from stdin), the unfinished chunks are decoded in this process.
    """
    chunk = max(1, min(MAX_CHUNK, -(-len(paths) // (workers * 8))))
    starts = iter(range(0, len(paths), chunk))
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    pending: dict[cf.Future, int] = {}
    unfinished: list[int] = []

    def submit_next() -> None:
        start = next(starts, None)
        if start is not None:
            pending[pool.submit(_decode_chunk, paths[start : start + chunk], size)] = start

    try:
        for _ in range(2 * workers):
            submit_next()
        while pending and not unfinished:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                start = pending.pop(future)
                try:
                    rows, reasons = future.result()
                except BrokenProcessPool as exc:
                    log.warning("decoding workers failed (%s); going on in one process", exc)
                    unfinished = sorted([start, *pending.values(), *starts])
                    break
                submit_next()
                for k, reason in enumerate(reasons):
                    yield start + k, (rows[k] if reason is None else None), reason
    finally:  # also on Ctrl-C or an abandoned generator: don't decode what nobody will read
        pool.shutdown(wait=True, cancel_futures=True)
    for start in unfinished:
        for k, path in enumerate(paths[start : start + chunk]):
            yield (start + k, *_decode_file(path, size))
